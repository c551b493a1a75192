/*
 * rpcx._speedups: C versions of the few functions every call goes through (optional).
 *
 * Each function here has a pure-Python twin that defines its behaviour and is used when this
 * module is not built or RPCX_PURE_PYTHON is set (see rpcx/_accel.py); the tests run both and
 * compare them. Nothing here does I/O:
 *
 *   split_frames(src, max_len)     -> (frames, consumed, error_kind, error_value)
 *                                     twin: rpcx.protocol.decoder.py_split_frames
 *   peek_route(frame)              -> (version, flags, ser, seq, route, mdl, poff) | None
 *                                     twin: rpcx.protocol.message.peek_route
 *   encode_plain_response(version, flags, ser, seq, route, payload) -> bytes
 *                                     twin: rpcx.protocol.message.encode_plain_response
 *   handle_plain(frame, routes, hot, conn) -> bytes | (exc, called) | (ctx, payload) | None
 *                                     twin: rpcx.server.hotpath.py_handle_plain
 *   serve_read(data, routes, hot, conn, finish, max_len) -> bytes | None
 *                                     twin: rpcx.server.hotpath.py_serve_read
 *   HotCall                           twin: rpcx.server.context.PyHotCall
 *
 * What these functions touch of Python objects is only what the twins document as public: the
 * route table and its FastEntry tuples, the HotCall slots, the connection's `closing` attribute and
 * its `write(bytes)` method, and the `finish` callback. No private attribute is read by name, and
 * nothing a Python program can do to those objects (deleting a slot, replacing a table entry while
 * it runs) makes this code crash: a slot deleted from Python reads as None here.
 *
 * The wire format (rpcx protocol, big endian): a 16-byte header (magic 0x08, version, flags,
 * serialize byte, seq u64, total length u32), then four sections, each a u32 length and bytes:
 * service path, service method, metadata, payload.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAGIC 0x08

static PyObject *str_frame, *str_connection, *str_ctx, *str_res_md, *str_encode;
static PyObject *str_closing, *str_write;

static inline uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline void
put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* The section layout of one whole frame p[0:n], as peek_route reads it. Returns 0 when a section
 * length overruns the frame (the caller then leaves the frame to the full parser). */
typedef struct {
    Py_ssize_t meta;  /* end of the route: offset of the metadata length field */
    uint32_t mdl;     /* metadata bytes */
    Py_ssize_t poff;  /* offset of the payload bytes */
} layout;

static int
locate(const unsigned char *p, Py_ssize_t n, layout *out)
{
    if (n < 32)
        return 0;
    uint64_t mpos = 20 + (uint64_t)be32(p + 16);
    if (mpos + 12 > (uint64_t)n)
        return 0;
    uint64_t meta = mpos + 4 + be32(p + mpos);
    if (meta + 8 > (uint64_t)n)
        return 0;
    uint32_t mdl = be32(p + meta);
    uint64_t payload = meta + 8 + mdl;
    if (payload > (uint64_t)n)
        return 0;
    /* the payload length must not overrun the frame either: parse_frame rejects that */
    if (payload + be32(p + payload - 4) > (uint64_t)n)
        return 0;
    out->meta = (Py_ssize_t)meta;
    out->mdl = mdl;
    out->poff = (Py_ssize_t)payload;
    return 1;
}

static uint64_t
be64(const unsigned char *p)
{
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* ---- split_frames ------------------------------------------------------------------------ */

PyDoc_STRVAR(split_frames_doc,
"split_frames(src, max_len, /) -> (frames, consumed, error_kind, error_value)\n\n"
"Cut the whole frames off the front of src (bytes or bytearray). error_kind is 0 (none),\n"
"1 (bad magic byte, error_value the byte) or 2 (announced length over max_len, error_value\n"
"the length); frames before the error are still returned. max_len 0 means no limit.");

static PyObject *
split_frames(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "split_frames expects 2 arguments");
        return NULL;
    }
    PyObject *src = args[0];
    unsigned long long max_len = PyLong_AsUnsignedLongLong(args[1]);
    if (max_len == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(src, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *p = (const unsigned char *)view.buf;
    Py_ssize_t n = view.len, pos = 0;
    int kind = 0;
    unsigned long long value = 0;
    PyObject *frames = PyList_New(0);
    if (frames == NULL)
        goto fail;
    while (pos < n) {
        if (p[pos] != MAGIC) {
            kind = 1;
            value = p[pos];
            break;
        }
        if (n - pos < 16)
            break;
        uint32_t total = be32(p + pos + 12);
        if (max_len && total > max_len) {
            kind = 2;
            value = total;
            break;
        }
        Py_ssize_t end = pos + 16 + (Py_ssize_t)total;
        if (end > n)
            break;
        PyObject *frame;
        if (pos == 0 && end == n && PyBytes_CheckExact(src)) {
            Py_INCREF(src); /* the whole read is one frame: no copy */
            frame = src;
        }
        else {
            frame = PyBytes_FromStringAndSize((const char *)p + pos, end - pos);
            if (frame == NULL)
                goto fail;
        }
        int rc = PyList_Append(frames, frame);
        Py_DECREF(frame);
        if (rc < 0)
            goto fail;
        pos = end;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(NniK)", frames, pos, kind, value);
fail:
    Py_XDECREF(frames);
    PyBuffer_Release(&view);
    return NULL;
}

/* ---- peek_route -------------------------------------------------------------------------- */

PyDoc_STRVAR(peek_route_doc,
"peek_route(frame, /) -> (version, flags, serialize_byte, seq, route, metadata_length, payload_offset) | None");

static PyObject *
peek_route(PyObject *module, PyObject *frame)
{
    Py_buffer view;
    if (PyObject_GetBuffer(frame, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *p = (const unsigned char *)view.buf;
    layout lo;
    PyObject *res;
    if (!locate(p, view.len, &lo)) {
        res = Py_NewRef(Py_None);
    }
    else {
        res = Py_BuildValue("(iiiKy#kn)", p[1], p[2], p[3], (unsigned long long)be64(p + 4),
                            (const char *)p + 16, lo.meta - 16, (unsigned long)lo.mdl, lo.poff);
    }
    PyBuffer_Release(&view);
    return res;
}

/* ---- encode_plain_response --------------------------------------------------------------- */

/* The reply frame: the request's header fields, its raw route, no metadata, the payload. */
static PyObject *
build_response(unsigned char version, unsigned char flags, unsigned char ser, const unsigned char *seq8,
               uint64_t seq, const unsigned char *route, Py_ssize_t rlen, const Py_buffer *payload)
{
    uint64_t total = (uint64_t)rlen + 8 + (uint64_t)payload->len;
    if (total > 0xFFFFFFFFu) {
        PyErr_Format(PyExc_OverflowError, "rpcx frame of %llu bytes exceeds the 4 GiB length field",
                     (unsigned long long)total);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(16 + total));
    if (out == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    o[0] = MAGIC;
    o[1] = version;
    o[2] = (unsigned char)(0x80 | (flags & 0x63));
    o[3] = ser;
    if (seq8 != NULL) {
        memcpy(o + 4, seq8, 8);
    }
    else {
        put_be32(o + 4, (uint32_t)(seq >> 32));
        put_be32(o + 8, (uint32_t)seq);
    }
    put_be32(o + 12, (uint32_t)total);
    memcpy(o + 16, route, (size_t)rlen);
    o += 16 + rlen;
    put_be32(o, 0);
    put_be32(o + 4, (uint32_t)payload->len);
    memcpy(o + 8, payload->buf, (size_t)payload->len);
    return out;
}

PyDoc_STRVAR(encode_plain_response_doc,
"encode_plain_response(version, flags, ser, seq, route, payload, /) -> bytes");

static PyObject *
encode_plain_response(PyObject *module, PyObject *args)
{
    unsigned char version, ser;
    int flags; /* any int: only its type-independent bits are kept, as in the Python twin */
    PyObject *seq_obj;
    Py_buffer route, payload;
    if (!PyArg_ParseTuple(args, "bibOy*y*:encode_plain_response", &version, &flags, &ser, &seq_obj, &route,
                          &payload))
        return NULL;
    unsigned long long seq = PyLong_AsUnsignedLongLong(seq_obj); /* OverflowError out of u64 */
    PyObject *res = NULL;
    if (!(seq == (unsigned long long)-1 && PyErr_Occurred()))
        res = build_response(version, (unsigned char)(flags & 0xFF), ser, NULL, seq, route.buf, route.len, &payload);
    PyBuffer_Release(&route);
    PyBuffer_Release(&payload);
    return res;
}

/* ---- HotCall ----------------------------------------------------------------------------- */

/* rpcx.server.context.PyHotCall as a C type: the same three attributes, which run_entry sets as
 * struct fields instead of through attribute lookups. */
typedef struct {
    PyObject_HEAD
    PyObject *frame;
    PyObject *connection;
    PyObject *ctx;
} HotCall;

/* The slots are read and written from Python as attributes; deleting one is refused (a NULL slot
 * would otherwise reach the hot path), and the C code below still reads a NULL as None. */
#define HOTCALL_SLOT(name)                                                          \
    static PyObject *hotcall_get_##name(HotCall *self, void *closure)                    \
    {                                                                                    \
        return Py_NewRef(self->name != NULL ? self->name : Py_None);                     \
    }                                                                                    \
    static int hotcall_set_##name(HotCall *self, PyObject *value, void *closure)         \
    {                                                                                    \
        if (value == NULL) {                                                             \
            PyErr_SetString(PyExc_AttributeError, "HotCall." #name " cannot be deleted (set it to None)"); \
            return -1;                                                                   \
        }                                                                                \
        Py_XSETREF(self->name, Py_NewRef(value));                                        \
        return 0;                                                                        \
    }
HOTCALL_SLOT(frame)
HOTCALL_SLOT(connection)
HOTCALL_SLOT(ctx)

static PyGetSetDef hotcall_getset[] = {
    {"frame", (getter)hotcall_get_frame, (setter)hotcall_set_frame, "the request frame being served, or None", NULL},
    {"connection", (getter)hotcall_get_connection, (setter)hotcall_set_connection, "its connection", NULL},
    {"ctx", (getter)hotcall_get_ctx, (setter)hotcall_set_ctx, "its Context, once one exists", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyObject *
hotcall_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    if (PyTuple_GET_SIZE(args) || (kwds && PyDict_GET_SIZE(kwds))) {
        PyErr_SetString(PyExc_TypeError, "HotCall() takes no arguments");
        return NULL;
    }
    HotCall *self = (HotCall *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->frame = Py_NewRef(Py_None);
    self->connection = Py_NewRef(Py_None);
    self->ctx = Py_NewRef(Py_None);
    return (PyObject *)self;
}

static int
hotcall_traverse(HotCall *self, visitproc visit, void *arg)
{
    Py_VISIT(self->frame);
    Py_VISIT(self->connection);
    Py_VISIT(self->ctx);
    return 0;
}

static int
hotcall_clear(HotCall *self)
{
    Py_CLEAR(self->frame);
    Py_CLEAR(self->connection);
    Py_CLEAR(self->ctx);
    return 0;
}

static void
hotcall_dealloc(HotCall *self)
{
    PyObject_GC_UnTrack(self);
    hotcall_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject HotCallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "rpcx._speedups.HotCall",
    .tp_basicsize = sizeof(HotCall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The plain call the server's hot path is running; see rpcx.server.context.PyHotCall.",
    .tp_new = hotcall_new,
    .tp_traverse = (traverseproc)hotcall_traverse,
    .tp_clear = (inquiry)hotcall_clear,
    .tp_dealloc = (destructor)hotcall_dealloc,
    .tp_getset = hotcall_getset,
};

/* hot.<field> = value, directly for a HotCall; 0 or -1 with an exception */
static int
hot_set(PyObject *hot, PyObject *name, PyObject **field_of_hotcall, PyObject *value)
{
    if (field_of_hotcall != NULL) {
        Py_XSETREF(*field_of_hotcall, Py_NewRef(value));
        return 0;
    }
    return PyObject_SetAttr(hot, name, value);
}

#define HOT_FIELD(hot, f) (Py_IS_TYPE((hot), &HotCallType) ? &((HotCall *)(hot))->f : NULL)

/* ---- handle_plain and serve_read --------------------------------------------------------- */

#define ENTRY_SIZE 5 /* (func, dec, enc, codec, make_ctx): rpcx.server.hotpath.FastEntry */

/* The route table entry for the plain request p[0:n] (borrowed), or NULL: with an exception set
 * on a real error, without one when the frame is not for the hot path. */
static PyObject *
lookup(PyObject *routes, const unsigned char *p, Py_ssize_t n, layout *lo)
{
    if (n < 32 || (p[2] & 0xFC) || !locate(p, n, lo))
        return NULL;
    PyObject *route = PyBytes_FromStringAndSize((const char *)p + 16, lo->meta - 16);
    if (route == NULL)
        return NULL;
    PyObject *by_ser = PyDict_GetItemWithError(routes, route); /* borrowed */
    Py_DECREF(route);
    if (by_ser == NULL || !PyDict_Check(by_ser))
        return NULL;
    PyObject *ser = PyLong_FromLong(p[3]); /* a cached small int */
    if (ser == NULL)
        return NULL;
    PyObject *entry = PyDict_GetItemWithError(by_ser, ser);
    Py_DECREF(ser);
    if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != ENTRY_SIZE)
        return NULL;
    return entry;
}

/* (exc, called): the exception of a failed call, and whether it was raised once the method had
 * been called (by the method or the reply encoder) rather than by the argument decoder. NULL (with
 * the exception still set) for a BaseException that is not an Exception. */
static PyObject *
failure(PyObject *hot, int called)
{
    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        /* KeyboardInterrupt, SystemExit: not ours to swallow */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (hot_set(hot, str_frame, HOT_FIELD(hot, frame), Py_None) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
        return NULL;
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    PyObject *result = NULL;
    if (hot_set(hot, str_frame, HOT_FIELD(hot, frame), Py_None) == 0)
        result = Py_BuildValue("(OO)", value ? value : Py_None, called ? Py_True : Py_False);
    Py_XDECREF(value);
    return result;
}

/* Run the method of `entry` for the request `frame` (p[0:n], laid out as lo): the result as
 * handle_plain returns it, or NULL with a BaseException that is not an Exception set. */
static PyObject *
run_entry(PyObject *frame, const unsigned char *p, Py_ssize_t n, const layout *lo, PyObject *entry,
          PyObject *hot, PyObject *conn)
{
    PyObject *func = PyTuple_GET_ITEM(entry, 0), *dec = PyTuple_GET_ITEM(entry, 1);
    PyObject *enc = PyTuple_GET_ITEM(entry, 2), *codec = PyTuple_GET_ITEM(entry, 3);
    PyObject *make_ctx = PyTuple_GET_ITEM(entry, 4);
    if (hot_set(hot, str_frame, HOT_FIELD(hot, frame), frame) < 0 ||
        hot_set(hot, str_connection, HOT_FIELD(hot, connection), conn) < 0 ||
        hot_set(hot, str_ctx, HOT_FIELD(hot, ctx), Py_None) < 0)
        return NULL;

    PyObject *ctx = NULL, *arg = NULL, *reply = NULL, *payload = NULL, *result = NULL;
    if (make_ctx != Py_None) {
        /* the method takes a context: made for this call, and what current_context() returns */
        ctx = PyObject_CallFunctionObjArgs(make_ctx, frame, conn, NULL);
        if (ctx == NULL)
            return failure(hot, 0);
        if (hot_set(hot, str_ctx, HOT_FIELD(hot, ctx), ctx) < 0) {
            Py_DECREF(ctx);
            return failure(hot, 0);
        }
    }
    if (dec != Py_None) {
        PyObject *body = PyBytes_FromStringAndSize((const char *)p + lo->poff, n - lo->poff);
        if (body == NULL) {
            Py_XDECREF(ctx);
            return failure(hot, 0);
        }
        arg = PyObject_CallOneArg(dec, body);
        Py_DECREF(body);
        if (arg == NULL) {
            Py_XDECREF(ctx);
            return failure(hot, 0);
        }
    }
    if (ctx != NULL)
        reply = arg != NULL ? PyObject_CallFunctionObjArgs(func, ctx, arg, NULL) : PyObject_CallOneArg(func, ctx);
    else
        reply = arg != NULL ? PyObject_CallOneArg(func, arg) : PyObject_CallNoArgs(func);
    Py_XDECREF(arg);
    Py_XDECREF(ctx);
    if (reply == NULL)
        return failure(hot, 1);
    payload = PyObject_CallOneArg(enc, reply);
    if (payload == NULL) {
        /* the specialised encoder did not fit this reply: the codec's generic encode decides */
        if (!PyErr_ExceptionMatches(PyExc_Exception)) {
            Py_DECREF(reply);
            return failure(hot, 1);
        }
        PyErr_Clear();
        payload = PyObject_CallMethodOneArg(codec, str_encode, reply);
        if (payload == NULL) {
            Py_DECREF(reply);
            return failure(hot, 1);
        }
    }
    Py_DECREF(reply);

    if (hot_set(hot, str_frame, HOT_FIELD(hot, frame), Py_None) < 0)
        goto done;
    PyObject *used;
    if (Py_IS_TYPE(hot, &HotCallType))
        used = Py_NewRef(((HotCall *)hot)->ctx != NULL ? ((HotCall *)hot)->ctx : Py_None);
    else
        used = PyObject_GetAttr(hot, str_ctx);
    if (used == NULL)
        goto done;
    if (used != Py_None) {
        /* the handler has a context: it may have set reply metadata */
        PyObject *md = PyObject_GetAttr(used, str_res_md);
        int has_md = md == NULL ? -1 : PyObject_IsTrue(md);
        Py_XDECREF(md);
        if (has_md < 0) {
            Py_DECREF(used);
            goto done;
        }
        if (has_md) {
            result = PyTuple_Pack(2, used, payload);
            Py_DECREF(used);
            goto done;
        }
    }
    Py_DECREF(used);
    Py_buffer pv;
    if (PyObject_GetBuffer(payload, &pv, PyBUF_SIMPLE) < 0) {
        /* not bytes-like: the caller builds (and reports) it */
        PyErr_Clear();
        result = PyTuple_Pack(2, Py_None, payload);
        goto done;
    }
    if ((uint64_t)(lo->meta - 16) + 8 + (uint64_t)pv.len > 0xFFFFFFFFu)
        result = PyTuple_Pack(2, Py_None, payload);
    else
        result = build_response(p[1], p[2], p[3], p + 4, 0, p + 16, lo->meta - 16, &pv);
    PyBuffer_Release(&pv);
done:
    Py_XDECREF(payload);
    return result;
}

PyDoc_STRVAR(handle_plain_doc,
"handle_plain(frame, routes, hot, conn, /) -> bytes | (exc, called) | (ctx, payload) | None\n\n"
"Serve one request frame on the server's hot path; see rpcx.server.hotpath.handle_plain.");

static PyObject *
handle_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "handle_plain expects 4 arguments");
        return NULL;
    }
    PyObject *frame = args[0], *routes = args[1], *hot = args[2], *conn = args[3];
    if (!PyBytes_CheckExact(frame) || !PyDict_CheckExact(routes))
        Py_RETURN_NONE;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(frame);
    Py_ssize_t n = PyBytes_GET_SIZE(frame);
    layout lo;
    PyObject *entry = lookup(routes, p, n, &lo);
    if (entry == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(entry); /* the handler may change the route table */
    PyObject *result = run_entry(frame, p, n, &lo, entry, hot, conn);
    Py_DECREF(entry);
    return result;
}

/* b"".join(batch) for a list of k bytes objects */
static PyObject *
join_bytes(PyObject *batch, Py_ssize_t k)
{
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < k; i++)
        size += PyBytes_GET_SIZE(PyList_GET_ITEM(batch, i));
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *item = PyList_GET_ITEM(batch, i);
        memcpy(o, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item));
        o += PyBytes_GET_SIZE(item);
    }
    return out;
}

#define MAX_READ_FRAMES 256

PyDoc_STRVAR(serve_read_doc,
"serve_read(data, routes, hot, conn, finish, max_len, /) -> bytes | None\n\n"
"Serve a read made only of whole plain requests; see rpcx.server.hotpath.serve_read.");

static PyObject *
serve_read(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "serve_read expects 6 arguments");
        return NULL;
    }
    PyObject *data = args[0], *routes = args[1], *hot = args[2], *conn = args[3], *finish = args[4];
    unsigned long long max_len = PyLong_AsUnsignedLongLong(args[5]);
    if (max_len == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    if (!PyBytes_CheckExact(data) || !PyDict_CheckExact(routes))
        Py_RETURN_NONE;

    /* first pass: every frame whole, plain and routed, or nothing runs */
    const unsigned char *base = (const unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data), pos = 0;
    Py_ssize_t offs[MAX_READ_FRAMES], lens[MAX_READ_FRAMES];
    layout los[MAX_READ_FRAMES];
    PyObject *entries[MAX_READ_FRAMES];
    int count = 0;
    while (pos < n) {
        if (count == MAX_READ_FRAMES || base[pos] != MAGIC || n - pos < 16)
            goto not_plain;
        uint32_t total = be32(base + pos + 12);
        if (max_len && total > max_len)
            goto not_plain;
        Py_ssize_t len = 16 + (Py_ssize_t)total;
        if (len > n - pos)
            goto not_plain;
        PyObject *entry = lookup(routes, base + pos, len, &los[count]);
        if (entry == NULL)
            goto not_plain;
        Py_INCREF(entry); /* a handler may change the route table */
        entries[count] = entry;
        offs[count] = pos;
        lens[count] = len;
        count++;
        pos += len;
    }
    if (count == 0)
        goto not_plain;

    PyObject *replies = PyList_New(0);
    int ok = replies != NULL;
    for (int i = 0; ok && i < count; i++) {
        if (i > 0) {
            /* a handler closed the connection: run nothing more (the Python loop's check) */
            PyObject *closing = PyObject_GetAttr(conn, str_closing);
            int stop = closing == NULL ? -1 : PyObject_IsTrue(closing);
            Py_XDECREF(closing);
            if (stop) {
                ok = stop > 0;
                break;
            }
        }
        PyObject *frame;
        if (count == 1)
            frame = Py_NewRef(data);
        else
            frame = PyBytes_FromStringAndSize((const char *)base + offs[i], lens[i]);
        if (frame == NULL) {
            ok = 0;
            break;
        }
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(frame);
        PyObject *r = run_entry(frame, p, lens[i], &los[i], entries[i], hot, conn);
        if (r == NULL) {
            ok = 0;
        }
        else if (PyBytes_CheckExact(r)) {
            ok = PyList_Append(replies, r) == 0;
        }
        else {
            PyObject *fr = PyObject_CallFunctionObjArgs(finish, conn, frame, r, NULL);
            ok = fr != NULL;
            Py_XDECREF(fr);
        }
        Py_XDECREF(r);
        Py_DECREF(frame);
    }
    for (int i = 0; i < count; i++)
        Py_DECREF(entries[i]);
    if (replies == NULL)
        return NULL;
    PyObject *out = join_bytes(replies, PyList_GET_SIZE(replies));
    Py_DECREF(replies);
    if (ok)
        return out;
    /* a BaseException (or a failure of our own): what was answered before it still goes out,
     * through the connection's public write(), then the error propagates */
    if (out != NULL && PyBytes_GET_SIZE(out) > 0) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *w = PyObject_CallMethodOneArg(conn, str_write, out);
        Py_XDECREF(w);
        if (type != NULL) {
            PyErr_Clear(); /* the first error wins */
            PyErr_Restore(type, value, tb);
        }
    }
    Py_XDECREF(out);
    return NULL;

not_plain:
    for (int i = 0; i < count; i++)
        Py_DECREF(entries[i]);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

/* ---- module ------------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"split_frames", (PyCFunction)(void (*)(void))split_frames, METH_FASTCALL, split_frames_doc},
    {"peek_route", (PyCFunction)peek_route, METH_O, peek_route_doc},
    {"encode_plain_response", (PyCFunction)encode_plain_response, METH_VARARGS, encode_plain_response_doc},
    {"handle_plain", (PyCFunction)(void (*)(void))handle_plain, METH_FASTCALL, handle_plain_doc},
    {"serve_read", (PyCFunction)(void (*)(void))serve_read, METH_FASTCALL, serve_read_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "rpcx._speedups",
    "C versions of rpcx's per-call framing and dispatch; see rpcx/_accel.py.", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
#define INTERN(var, text)                          \
    if ((var = PyUnicode_InternFromString(text)) == NULL) \
        return NULL;
    INTERN(str_frame, "frame");
    INTERN(str_connection, "connection");
    INTERN(str_ctx, "ctx");
    INTERN(str_res_md, "reply_metadata");
    INTERN(str_encode, "encode");
    INTERN(str_closing, "closing");
    INTERN(str_write, "write");
#undef INTERN
    if (PyType_Ready(&HotCallType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "HotCall", (PyObject *)&HotCallType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
