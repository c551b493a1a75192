package main

// The tracing plugins of github.com/rpcxio/rpcx-plugins (client/otel, server/otel, share/trace.go),
// written again for this peer: the trace context travels in the rpcx request metadata map
// (share.ReqMetaDataKey) through the global TextMapPropagator (W3C "traceparent"/"tracestate").
// Client span "rpcx.client.PATH.METHOD" (default kind, internal), its parent taken from the
// request metadata only; server span "rpcx.service.PATH.METHOD", kind server, started in
// PreHandleRequest and ended in PostWriteResponse, its trace context injected back into the
// request metadata for the handler's own calls. Attributes: rpc.system=rpcx, rpc.service, rpc.method.
// (The plugins' optional request/response metrics are left out.)

import (
	"context"
	"fmt"
	"strings"

	"github.com/smallnest/rpcx/protocol"
	"github.com/smallnest/rpcx/share"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// metadataCarrier is rpcx-plugins' metadataSupplier: a TextMapCarrier over the metadata map.
type metadataCarrier map[string]string

func (m metadataCarrier) Get(key string) string { return m[key] }
func (m metadataCarrier) Set(key, value string) { m[key] = value }
func (m metadataCarrier) Keys() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func reqMetadata(ctx context.Context) map[string]string {
	meta, _ := ctx.Value(share.ReqMetaDataKey).(map[string]string)
	if meta == nil {
		meta = map[string]string{}
		if rc, ok := ctx.(*share.Context); ok {
			rc.SetValue(share.ReqMetaDataKey, meta)
		}
	}
	return meta
}

func inject(ctx context.Context, p propagation.TextMapPropagator) {
	p.Inject(ctx, metadataCarrier(reqMetadata(ctx)))
}

func extract(ctx context.Context, p propagation.TextMapPropagator) trace.SpanContext {
	return trace.SpanContextFromContext(p.Extract(ctx, metadataCarrier(reqMetadata(ctx))))
}

func rpcAttrs(path, method string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("rpc.system", "rpcx"),
		attribute.String("rpc.service", path),
		attribute.String("rpc.method", method),
	}
}

type clientPlugin struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func newClientPlugin(tracer trace.Tracer, prop propagation.TextMapPropagator) *clientPlugin {
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	return &clientPlugin{tracer, prop}
}

func (p *clientPlugin) PreCall(ctx context.Context, servicePath, serviceMethod string, args interface{}) error {
	rc := ctx.(*share.Context)
	ctx0 := trace.ContextWithSpanContext(rc.Context, extract(ctx, p.prop))
	ctx1, span := p.tracer.Start(ctx0, fmt.Sprintf("rpcx.client.%s.%s", servicePath, serviceMethod),
		trace.WithAttributes(rpcAttrs(servicePath, serviceMethod)...))
	span.AddEvent("PreCall", trace.WithAttributes(
		attribute.String("rpc.client.request.message", strings.ToValidUTF8(fmt.Sprintf("%+v", args), " "))))
	rc.Context = ctx1
	inject(ctx, p.prop)
	return nil
}

func (p *clientPlugin) PostCall(ctx context.Context, servicePath, serviceMethod string, args interface{}, reply interface{}, err error) error {
	span := trace.SpanFromContext(ctx)
	defer span.End()
	span.AddEvent("PostCall", trace.WithAttributes(
		attribute.String("rpc.client.response.message", strings.ToValidUTF8(fmt.Sprintf("%+v", reply), " "))))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetStatus(codes.Ok, "success")
	}
	return nil
}

type serverPlugin struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

func newServerPlugin(tracer trace.Tracer, prop propagation.TextMapPropagator) *serverPlugin {
	if prop == nil {
		prop = otel.GetTextMapPropagator()
	}
	return &serverPlugin{tracer, prop}
}

func (p *serverPlugin) PreHandleRequest(ctx context.Context, r *protocol.Message) error {
	rc := ctx.(*share.Context)
	ctx0 := trace.ContextWithRemoteSpanContext(rc.Context, extract(ctx, p.prop))
	name := fmt.Sprintf("rpcx.service.%s.%s", r.ServicePath, r.ServiceMethod)
	ctx1, span := p.tracer.Start(ctx0, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(rpcAttrs(r.ServicePath, r.ServiceMethod)...))
	span.AddEvent("rpcx.pre.handle.request", trace.WithAttributes(
		attribute.String("rpcx.pre.handle.request.path", name),
		attribute.String("rpcx.pre.handle.request.metadata", strings.ToValidUTF8(fmt.Sprintf("%+v", r.Metadata), " "))))
	rc.Context = ctx1
	inject(ctx, p.prop)
	return nil
}

func (p *serverPlugin) PostWriteResponse(ctx context.Context, req *protocol.Message, res *protocol.Message, err error) error {
	span := trace.SpanFromContext(ctx)
	defer span.End()
	span.AddEvent("rpcx.post.write.response", trace.WithAttributes(
		attribute.String("rpcx.post.write.response.metadata", strings.ToValidUTF8(fmt.Sprintf("%+v", res.Metadata), " "))))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetStatus(codes.Ok, "success")
	}
	return nil
}
