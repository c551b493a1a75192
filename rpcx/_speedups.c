/*
 * rpcx._speedups: C versions of the few functions every call goes through (optional).
 *
 * Each function here has a pure-Python twin that defines its behaviour and is used when this
 * module is not built or RPCX_PURE_PYTHON is set (see rpcx/_accel.py); the tests run both and
 * compare them. Nothing here does I/O:
 *
 *   split_frames(src, max_len)     -> (frames, consumed, error_kind, error_value)
 *                                     twin: rpcx.protocol.decoder._split_frames
 *   peek_route(frame)              -> (version, flags, ser, seq, route, mdl, poff) | None
 *                                     twin: rpcx.protocol.message.peek_route
 *   encode_plain_response(version, flags, ser, seq, route, payload) -> bytes
 *                                     twin: rpcx.protocol.message.encode_plain_response
 *   handle_plain(frame, fast, hot, conn) -> bytes | (exc,) | (ctx, payload) | None
 *                                     twin: rpcx.server.hotpath.handle_plain
 *
 * The wire format (rpcx protocol, big endian): a 16-byte header (magic 0x08, version, flags,
 * serialize byte, seq u64, total length u32), then four sections, each a u32 length and bytes:
 * service path, service method, metadata, payload.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>
#include <stdint.h>
#include <string.h>

#define MAGIC 0x08

static PyObject *str_frame, *str_connection, *str_thread, *str_ctx, *str_res_md, *str_encode;

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

/* ---- handle_plain ------------------------------------------------------------------------ */

PyDoc_STRVAR(handle_plain_doc,
"handle_plain(frame, fast, hot, conn, /) -> bytes | (exc,) | (ctx, payload) | None\n\n"
"Serve one request frame on the server's hot path; see rpcx.server.hotpath.handle_plain.");

/* Set the hot-call slots; returns -1 with an exception set on failure. */
static int
set_hot(PyObject *hot, PyObject *frame, PyObject *conn, PyObject *thread)
{
    if (PyObject_SetAttr(hot, str_frame, frame) < 0)
        return -1;
    if (conn != NULL && PyObject_SetAttr(hot, str_connection, conn) < 0)
        return -1;
    if (thread != NULL && PyObject_SetAttr(hot, str_thread, thread) < 0)
        return -1;
    if (conn != NULL && PyObject_SetAttr(hot, str_ctx, Py_None) < 0)
        return -1;
    return 0;
}

static PyObject *
handle_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "handle_plain expects 4 arguments");
        return NULL;
    }
    PyObject *frame = args[0], *fast = args[1], *hot = args[2], *conn = args[3];
    if (!PyBytes_CheckExact(frame) || !PyDict_CheckExact(fast))
        Py_RETURN_NONE;
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(frame);
    Py_ssize_t n = PyBytes_GET_SIZE(frame);
    layout lo;
    if (n < 32 || (p[2] & 0xFC) || !locate(p, n, &lo))
        Py_RETURN_NONE;

    PyObject *route = PyBytes_FromStringAndSize((const char *)p + 16, lo.meta - 16);
    if (route == NULL)
        return NULL;
    PyObject *by_ser = PyDict_GetItemWithError(fast, route); /* borrowed */
    Py_DECREF(route);
    if (by_ser == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    if (!PyDict_Check(by_ser))
        Py_RETURN_NONE;
    PyObject *ser = PyLong_FromLong(p[3]); /* a cached small int */
    if (ser == NULL)
        return NULL;
    PyObject *entry = PyDict_GetItemWithError(by_ser, ser); /* borrowed */
    Py_DECREF(ser);
    if (entry == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4)
        Py_RETURN_NONE;
    Py_INCREF(entry); /* the handler may change the route table */
    PyObject *func = PyTuple_GET_ITEM(entry, 0), *dec = PyTuple_GET_ITEM(entry, 1);
    PyObject *enc = PyTuple_GET_ITEM(entry, 2), *codec = PyTuple_GET_ITEM(entry, 3);

    PyObject *thread = PyLong_FromUnsignedLong(PyThread_get_thread_ident());
    if (thread == NULL) {
        Py_DECREF(entry);
        return NULL;
    }
    int rc = set_hot(hot, frame, conn, thread);
    Py_DECREF(thread);
    if (rc < 0) {
        Py_DECREF(entry);
        return NULL;
    }

    PyObject *reply = NULL, *payload = NULL, *result = NULL;
    if (dec != Py_None) {
        PyObject *body = PyBytes_FromStringAndSize((const char *)p + lo.poff, n - lo.poff);
        if (body == NULL)
            goto call_failed;
        PyObject *arg = PyObject_CallOneArg(dec, body);
        Py_DECREF(body);
        if (arg == NULL)
            goto call_failed;
        reply = PyObject_CallOneArg(func, arg);
        Py_DECREF(arg);
    }
    else {
        reply = PyObject_CallNoArgs(func);
    }
    if (reply == NULL)
        goto call_failed;
    payload = PyObject_CallOneArg(enc, reply);
    if (payload == NULL) {
        /* the specialised encoder did not fit this reply: the codec's generic encode decides */
        if (!PyErr_ExceptionMatches(PyExc_Exception))
            goto call_failed;
        PyErr_Clear();
        payload = PyObject_CallMethodOneArg(codec, str_encode, reply);
        if (payload == NULL)
            goto call_failed;
    }
    Py_CLEAR(reply);

    if (PyObject_SetAttr(hot, str_frame, Py_None) < 0)
        goto done;
    PyObject *used = PyObject_GetAttr(hot, str_ctx);
    if (used == NULL)
        goto done;
    if (used != Py_None) {
        /* the handler asked current_context() for its context: it may have set reply metadata */
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
        /* not bytes-like: the Python side builds (and reports) it */
        PyErr_Clear();
        result = PyTuple_Pack(2, Py_None, payload);
        goto done;
    }
    if ((uint64_t)(lo.meta - 16) + 8 + (uint64_t)pv.len > 0xFFFFFFFFu) {
        result = PyTuple_Pack(2, Py_None, payload);
    }
    else {
        result = build_response(p[1], p[2], p[3], p + 4, 0, p + 16, lo.meta - 16, &pv);
    }
    PyBuffer_Release(&pv);
    goto done;

call_failed:
    Py_CLEAR(reply);
    if (PyErr_ExceptionMatches(PyExc_Exception)) {
        /* the handler (or its codec) failed: the caller turns the exception into an error reply */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL)
            PyException_SetTraceback(value, tb);
        Py_XDECREF(type);
        Py_XDECREF(tb);
        if (PyObject_SetAttr(hot, str_frame, Py_None) < 0) {
            Py_XDECREF(value);
        }
        else {
            result = PyTuple_Pack(1, value ? value : Py_None);
            Py_XDECREF(value);
        }
    }
    else {
        /* KeyboardInterrupt, SystemExit: not ours to swallow */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyObject_SetAttr(hot, str_frame, Py_None) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
done:
    Py_XDECREF(payload);
    Py_DECREF(entry);
    return result;
}

/* ---- module ------------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"split_frames", (PyCFunction)(void (*)(void))split_frames, METH_FASTCALL, split_frames_doc},
    {"peek_route", (PyCFunction)peek_route, METH_O, peek_route_doc},
    {"encode_plain_response", (PyCFunction)encode_plain_response, METH_VARARGS, encode_plain_response_doc},
    {"handle_plain", (PyCFunction)(void (*)(void))handle_plain, METH_FASTCALL, handle_plain_doc},
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
    INTERN(str_thread, "thread");
    INTERN(str_ctx, "ctx");
    INTERN(str_res_md, "_res_md");
    INTERN(str_encode, "encode");
#undef INTERN
    return PyModule_Create(&moduledef);
}
