/* The produce path's record walk in C: every record of an uncompressed records section checked
 * exactly as Kafka's DefaultRecord.readFrom does (varints of at most 5 bytes with Java's int32 wrap,
 * varlong timestamp deltas, lengths, header counts and key sizes, no byte left over), with no Python
 * object made per record. It returns a summary the validator needs (offsets in order, timestamp
 * range, null keys); when a record must be named in record_errors the Python walker of
 * record_walk.py lists them. Built as an optional extension: without a compiler the broker uses the
 * Python walker, which gives the same answers more slowly. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} cursor;

/* ByteUtils.readVarint: at most 5 bytes, bits past 32 dropped, zigzag. */
static int read_varint(cursor *c, int32_t *out) {
    uint32_t value = 0;
    int shift = 0;
    for (;;) {
        if (c->p >= c->end) return -1;
        uint32_t b = *c->p++;
        if (!(b & 0x80)) {
            value |= b << shift;
            break;
        }
        value |= (b & 0x7f) << shift;
        shift += 7;
        if (shift > 28) return -2;
    }
    *out = (int32_t)((value >> 1) ^ (~(value & 1) + 1));
    return 0;
}

/* ByteUtils.readVarlong: at most 10 bytes. */
static int read_varlong(cursor *c, int64_t *out) {
    uint64_t value = 0;
    int shift = 0;
    for (;;) {
        if (c->p >= c->end) return -1;
        uint64_t b = *c->p++;
        if (!(b & 0x80)) {
            value |= b << shift;
            break;
        }
        value |= (b & 0x7f) << shift;
        shift += 7;
        if (shift > 63) return -2;
    }
    *out = (int64_t)((value >> 1) ^ (~(value & 1) + 1));
    return 0;
}

static PyObject *fail(Py_ssize_t index, const char *detail) {
    PyErr_Format(PyExc_ValueError, "Invalid record at index %zd: %s", index, detail);
    return NULL;
}

/* summarize(section, count, base_timestamp) ->
 *     (offsets_in_order, stamped, min_timestamp, max_timestamp, null_keys)
 * Timestamps are base_timestamp + delta; records stamped -1 (NO_TIMESTAMP) are not counted in
 * stamped/min/max. ValueError("Invalid record at index i: ...") for a malformed record. */
typedef struct {
    int compacted;          /* a null key is a bad record */
    int64_t low, high;      /* a stamped record outside [low, high] is a bad record */
    Py_ssize_t limit;       /* bad records listed at most (0: none collected) */
    PyObject *bad;          /* list of (index, kind, timestamp, offset_delta); kind 0 keyless, 1 timestamp */
    Py_ssize_t bad_total;
} collector;

static int note_bad(collector *col, Py_ssize_t i, int kind, int64_t ts, int32_t offset_delta) {
    col->bad_total++;
    if (PyList_GET_SIZE(col->bad) >= col->limit) return 0;
    PyObject *item = Py_BuildValue("(niLi)", i, kind, (long long)ts, (int)offset_delta);
    if (item == NULL) return -1;
    int rc = PyList_Append(col->bad, item);
    Py_DECREF(item);
    return rc;
}

static PyObject *walk(Py_buffer view, Py_ssize_t count, long long base_ts, collector *col) {
    const unsigned char *data = (const unsigned char *)view.buf;
    cursor all = {data, data + view.len};
    int in_order = 1;
    Py_ssize_t stamped = 0, null_keys = 0, i;
    int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
    PyObject *result = NULL;
    for (i = 0; i < count; i++) {
        int32_t length, offset_delta, key_len, value_len, header_count;
        int64_t ts_delta;
        int rc = read_varint(&all, &length);
        if (rc) { fail(i, rc == -1 ? "record runs past the end of its batch" : "varint is too long"); goto done; }
        if (length < 0 || length > all.end - all.p) {
            PyErr_Format(PyExc_ValueError, "Invalid record at index %zd: record size %d runs past the "
                         "%zd bytes left", i, (int)length, (Py_ssize_t)(all.end - all.p));
            goto done;
        }
        cursor rec = {all.p, all.p + length};
        all.p += length;
        if (rec.p >= rec.end) { fail(i, "record runs past the end of its batch"); goto done; }
        rec.p++; /* attributes */
        rc = read_varlong(&rec, &ts_delta);
        if (rc) { fail(i, rc == -1 ? "record runs past the end of its batch" : "varlong is too long"); goto done; }
#define VARINT(out) do { rc = read_varint(&rec, (out)); if (rc) { \
        fail(i, rc == -1 ? "record runs past the end of its batch" : "varint is too long"); goto done; } } while (0)
        VARINT(&offset_delta);
        VARINT(&key_len);
        if (key_len >= 0) {
            if (key_len > rec.end - rec.p) { fail(i, "key runs past the end of its record"); goto done; }
            rec.p += key_len;
        } else {
            null_keys++;
        }
        VARINT(&value_len);
        if (value_len >= 0) {
            if (value_len > rec.end - rec.p) { fail(i, "value runs past the end of its record"); goto done; }
            rec.p += value_len;
        }
        VARINT(&header_count);
        if (header_count < 0 || (int64_t)header_count * 2 > rec.end - rec.p) {
            PyErr_Format(PyExc_ValueError, "Invalid record at index %zd: invalid number of record "
                         "headers %d", i, (int)header_count);
            goto done;
        }
        for (int32_t h = 0; h < header_count; h++) {
            int32_t hk, hv;
            VARINT(&hk);
            if (hk < 0) {
                PyErr_Format(PyExc_ValueError, "Invalid record at index %zd: invalid negative header "
                             "key size %d", i, (int)hk);
                goto done;
            }
            if (hk > rec.end - rec.p) { fail(i, "header key runs past the end of its record"); goto done; }
            rec.p += hk;
            VARINT(&hv);
            if (hv >= 0) {
                if (hv > rec.end - rec.p) { fail(i, "header value runs past the end of its record"); goto done; }
                rec.p += hv;
            }
        }
        if (rec.p != rec.end) {
            PyErr_Format(PyExc_ValueError, "Invalid record at index %zd: expected to read %d bytes in "
                         "record payload, but instead read %zd", i, (int)length,
                         (Py_ssize_t)(length - (rec.end - rec.p)));
            goto done;
        }
        if (offset_delta != i) in_order = 0;
        int64_t ts = (int64_t)((uint64_t)base_ts + (uint64_t)ts_delta);
        if (ts != -1) {
            stamped++;
            if (ts < min_ts) min_ts = ts;
            if (ts > max_ts) max_ts = ts;
        }
        if (col != NULL) {
            if (col->compacted && key_len < 0) {
                if (note_bad(col, i, 0, ts, offset_delta)) goto done;
            } else if (ts != -1 && (ts < col->low || ts > col->high)) {
                if (note_bad(col, i, 1, ts, offset_delta)) goto done;
            }
        }
    }
    if (all.p != all.end) {
        PyErr_Format(PyExc_ValueError, "Incorrect declared batch size: %zd bytes remain after %zd records",
                     (Py_ssize_t)(all.end - all.p), count);
        goto done;
    }
    if (!stamped) min_ts = max_ts = -1;
    result = Py_BuildValue("(OnLLn)", in_order ? Py_True : Py_False, stamped, (long long)min_ts,
                           (long long)max_ts, null_keys);
done:
    return result;
}

static PyObject *summarize(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t count;
    long long base_ts;
    if (!PyArg_ParseTuple(args, "y*nL", &view, &count, &base_ts)) return NULL;
    PyObject *result = walk(view, count, base_ts, NULL);
    PyBuffer_Release(&view);
    return result;
}

/* bad_records(section, count, base_timestamp, compacted, low, high, limit) -> (total, [(index, kind,
 * timestamp, offset_delta), ...]): the records Kafka's validateRecord refuses — kind 0 a null key on a
 * compacted topic, kind 1 a timestamp outside [low, high] — at most ``limit`` of them listed, without
 * a Python object for any valid record. ValueError as summarize for a malformed record. */
static PyObject *bad_records(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t count;
    long long base_ts, low, high;
    collector col = {0, 0, 0, 0, NULL, 0};
    if (!PyArg_ParseTuple(args, "y*nLpLLn", &view, &count, &base_ts, &col.compacted, &low, &high,
                          &col.limit))
        return NULL;
    col.low = low;
    col.high = high;
    col.bad = PyList_New(0);
    PyObject *result = NULL;
    if (col.bad != NULL) {
        PyObject *summary = walk(view, count, base_ts, &col);
        if (summary != NULL) {
            Py_DECREF(summary);
            result = Py_BuildValue("(nO)", col.bad_total, col.bad);
        }
        Py_DECREF(col.bad);
    }
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"summarize", summarize, METH_VARARGS,
     "summarize(section, count, base_timestamp) -> (offsets_in_order, stamped, min_ts, max_ts, null_keys)"},
    {"bad_records", bad_records, METH_VARARGS,
     "bad_records(section, count, base_timestamp, compacted, low, high, limit) -> (total, [(index, kind, "
     "timestamp, offset_delta)])"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_recordwalk", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__recordwalk(void) { return PyModule_Create(&module); }
