/* The compiled Avro reader of ingest.avro_reader, in C: the same resolved plan, read without
 * the interpreter's per-byte cost.
 *
 * `Program(steps, slots, defaults, malformed, bad_enum)` takes the plan that
 * `ingest.avro_reader.Reader` builds from a writer schema resolved against a reader schema
 * (one step per writer field, in writer order) and `Program.read(data, start)` returns
 * `(values, end)` exactly as the generated Python function does: the same values, the same
 * `PoisonRecord` reasons. The module holds no state between calls; every read is bounds-checked
 * against the length of `data` before a byte is touched.
 *
 * A step is a tuple `(kind, slot, arg, obj)`:
 *   kind  one of the K_* below;
 *   slot  the index of the output value it fills; -1 to read past the value; -2 to read and
 *         check it as the reader would (strict UTF-8, the reader's enum symbols), then drop it;
 *   arg   K_ENUM: 2 x the writer's symbol count; K_FIXED: the size; otherwise 0;
 *   obj   K_ENUM: (table, field): table maps the zig-zag index to the reader's symbol or None
 *         (None as a whole when the reader has no such field); K_UNION: the tuple of branch steps
 *         (primitives, enums and fixed only: Avro unions do not nest); otherwise None.
 * Errors in the data call `malformed(detail)` or `bad_enum(field, raw)` (both return the
 * exception to raise), so the reasons are those of the Python reader, word for word.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    K_NULL = 0,
    K_BOOL = 1,
    K_LONG = 2,     /* int or long, read as an int */
    K_LONG_F = 3,   /* int or long, read as a float (promotion) */
    K_FLOAT = 4,
    K_DOUBLE = 5,
    K_STRING = 6,   /* length-prefixed, strict UTF-8 → str */
    K_BYTES = 7,    /* length-prefixed → bytes */
    K_ENUM = 8,
    K_FIXED = 9,
    K_UNION = 10,
    K_LAST = K_UNION
};

typedef struct Step {
    int kind;
    Py_ssize_t slot;
    uint64_t arg;
    PyObject *table; /* K_ENUM: tuple or NULL (borrowed from `plan`) */
    PyObject *field; /* K_ENUM: the field name (borrowed from `plan`) */
    Py_ssize_t nbranches;
    struct Step *branches; /* K_UNION */
} Step;

typedef struct {
    PyObject_HEAD
    Py_ssize_t nsteps;
    Step *steps;
    Py_ssize_t nslots;
    PyObject *plan;     /* the steps as given: keeps the borrowed objects alive */
    PyObject *defaults; /* tuple of (slot, value) */
    PyObject *malformed;
    PyObject *bad_enum;
} Program;

/* -- errors ------------------------------------------------------------------------------ */

static void
raise_made(PyObject *made)
{
    if (made == NULL)
        return; /* the factory itself failed: its error stands */
    PyErr_SetObject((PyObject *)Py_TYPE(made), made);
    Py_DECREF(made);
}

static int
malformed(Program *self, const char *detail)
{
    raise_made(PyObject_CallFunction(self->malformed, "s", detail));
    return -1;
}

static int
bad_enum(Program *self, PyObject *field, uint64_t raw)
{
    PyObject *number = PyLong_FromUnsignedLongLong(raw);
    if (number == NULL)
        return -1;
    raise_made(PyObject_CallFunctionObjArgs(self->bad_enum, field, number, NULL));
    Py_DECREF(number);
    return -1;
}

/* -- reading ----------------------------------------------------------------------------- */

/* The varint at *pos, not yet unzigzagged, as `_varint` reads it: at most 10 bytes, at most
 * 64 bits. */
static int
varint(Program *self, const uint8_t *b, Py_ssize_t len, Py_ssize_t *pos, uint64_t *out)
{
    uint64_t value = 0;
    Py_ssize_t p = *pos;
    for (int shift = 0;; shift += 7) {
        if (p >= len)
            return malformed(self, "truncated");
        uint8_t byte = b[p++];
        uint64_t bits = byte & 0x7F;
        if (shift == 63) {
            if (byte & 0x80)
                return malformed(self, "varint longer than 10 bytes");
            if (bits > 1)
                return malformed(self, "varint beyond 64 bits");
        }
        value |= bits << shift;
        if (!(byte & 0x80)) {
            *pos = p;
            *out = value;
            return 0;
        }
    }
}

static inline int64_t
unzigzag(uint64_t raw)
{
    return (int64_t)(raw >> 1) ^ -(int64_t)(raw & 1);
}

/* The length of a string or bytes value, checked against what is left of the data. */
static int
length(Program *self, const uint8_t *b, Py_ssize_t len, Py_ssize_t *pos, Py_ssize_t *out)
{
    uint64_t raw;
    if (varint(self, b, len, pos, &raw) < 0)
        return -1;
    if (raw & 1)
        return malformed(self, "negative length");
    uint64_t n = raw >> 1;
    if (n > (uint64_t)(len - *pos))
        return malformed(self, "truncated");
    *out = (Py_ssize_t)n;
    return 0;
}

/* Read one value of `step` at *pos; stores a new reference in *value when the step has a slot
 * (NULL otherwise). */
static int
read_step(Program *self, const Step *step, const uint8_t *b, Py_ssize_t len, Py_ssize_t *pos,
          PyObject **value)
{
    int keep = step->slot >= 0;
    int check = step->slot != -1;
    uint64_t raw;
    Py_ssize_t n;
    *value = NULL;
    switch (step->kind) {
    case K_NULL:
        if (keep)
            *value = Py_NewRef(Py_None);
        return 0;
    case K_BOOL:
        if (*pos >= len)
            return malformed(self, "truncated");
        raw = b[(*pos)++];
        if (raw > 1)
            return malformed(self, "boolean is neither 0 nor 1");
        if (keep)
            *value = PyBool_FromLong((long)raw);
        return 0;
    case K_LONG:
    case K_LONG_F:
        if (varint(self, b, len, pos, &raw) < 0)
            return -1;
        if (keep) {
            if (step->kind == K_LONG)
                *value = PyLong_FromLongLong(unzigzag(raw));
            else
                *value = PyFloat_FromDouble((double)unzigzag(raw));
            if (*value == NULL)
                return -1;
        }
        return 0;
    case K_FLOAT:
    case K_DOUBLE: {
        Py_ssize_t size = step->kind == K_FLOAT ? 4 : 8;
        if (len - *pos < size)
            return malformed(self, "truncated");
        if (keep) {
            double d = step->kind == K_FLOAT
                ? PyFloat_Unpack4((const char *)b + *pos, 1)
                : PyFloat_Unpack8((const char *)b + *pos, 1);
            if (d == -1.0 && PyErr_Occurred())
                return -1;
            *value = PyFloat_FromDouble(d);
            if (*value == NULL)
                return -1;
        }
        *pos += size;
        return 0;
    }
    case K_STRING:
    case K_BYTES:
        if (length(self, b, len, pos, &n) < 0)
            return -1;
        if (keep || (check && step->kind == K_STRING)) {
            const char *start = (const char *)b + *pos;
            if (step->kind == K_BYTES) {
                *value = PyBytes_FromStringAndSize(start, n);
            } else {
                *value = PyUnicode_DecodeUTF8(start, n, "strict");
                if (*value == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                    PyErr_Clear();
                    return malformed(self, "string is not valid UTF-8");
                }
            }
            if (*value == NULL)
                return -1;
            if (!keep)
                Py_CLEAR(*value);
        }
        *pos += n;
        return 0;
    case K_ENUM:
        if (varint(self, b, len, pos, &raw) < 0)
            return -1;
        if (raw >= step->arg)
            return bad_enum(self, step->field, raw);
        if (step->table != NULL) { /* the reader has the field: its symbols decide */
            PyObject *symbol = PyTuple_GET_ITEM(step->table, (Py_ssize_t)raw);
            if (symbol == Py_None)
                return bad_enum(self, step->field, raw);
            if (keep)
                *value = Py_NewRef(symbol);
        } else if (raw & 1) {
            return bad_enum(self, step->field, raw);
        }
        return 0;
    case K_FIXED:
        if ((uint64_t)(len - *pos) < step->arg)
            return malformed(self, "truncated");
        if (keep) {
            *value = PyBytes_FromStringAndSize((const char *)b + *pos, (Py_ssize_t)step->arg);
            if (*value == NULL)
                return -1;
        }
        *pos += (Py_ssize_t)step->arg;
        return 0;
    case K_UNION:
        if (varint(self, b, len, pos, &raw) < 0)
            return -1;
        if ((raw & 1) || (raw >> 1) >= (uint64_t)step->nbranches)
            return malformed(self, "union branch out of range");
        return read_step(self, &step->branches[raw >> 1], b, len, pos, value);
    }
    PyErr_SetString(PyExc_SystemError, "ingest._cavro: unknown step kind");
    return -1;
}

static PyObject *
Program_read(Program *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "read(data, start) takes 2 arguments");
        return NULL;
    }
    PyObject *data = args[0];
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "data must be bytes, not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    const uint8_t *b = (const uint8_t *)PyBytes_AS_STRING(data);
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    if (pos < 0 || pos > len) {
        PyErr_SetString(PyExc_ValueError, "start is outside the data");
        return NULL;
    }
    PyObject *values = PyTuple_New(self->nslots);
    if (values == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < self->nsteps; i++) {
        const Step *step = &self->steps[i];
        PyObject *value;
        if (read_step(self, step, b, len, &pos, &value) < 0) {
            Py_DECREF(values); /* frees the values already set; unset items are NULL */
            return NULL;
        }
        if (value != NULL) {
            /* Each slot is filled by one writer field only (the Reader checks it). */
            PyObject *old = PyTuple_GET_ITEM(values, step->slot);
            Py_XDECREF(old);
            PyTuple_SET_ITEM(values, step->slot, value);
        }
    }
    Py_ssize_t ndefaults = PyTuple_GET_SIZE(self->defaults);
    for (Py_ssize_t i = 0; i < ndefaults; i++) {
        PyObject *pair = PyTuple_GET_ITEM(self->defaults, i);
        Py_ssize_t slot = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
        PyObject *value = PyTuple_GET_ITEM(pair, 1);
        PyObject *old = PyTuple_GET_ITEM(values, slot);
        Py_XDECREF(old);
        PyTuple_SET_ITEM(values, slot, Py_NewRef(value));
    }
    for (Py_ssize_t i = 0; i < self->nslots; i++) {
        if (PyTuple_GET_ITEM(values, i) == NULL) { /* the plan left a slot empty */
            Py_DECREF(values);
            PyErr_SetString(PyExc_SystemError, "ingest._cavro: a value was not read");
            return NULL;
        }
    }
    PyObject *end = PyLong_FromSsize_t(pos);
    if (end == NULL) {
        Py_DECREF(values);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, values, end);
    Py_DECREF(values);
    Py_DECREF(end);
    return result;
}

/* -- building the plan ------------------------------------------------------------------- */

static void
free_steps(Step *steps, Py_ssize_t n)
{
    if (steps == NULL)
        return;
    for (Py_ssize_t i = 0; i < n; i++)
        free_steps(steps[i].branches, steps[i].nbranches);
    PyMem_Free(steps);
}

static int parse_steps(PyObject *seq, Py_ssize_t nslots, int in_union, Step **out,
                       Py_ssize_t *count);

static int
parse_step(PyObject *item, Py_ssize_t nslots, int in_union, Step *step)
{
    int kind;
    Py_ssize_t slot;
    unsigned long long arg;
    PyObject *obj;
    memset(step, 0, sizeof(*step));
    if (!PyTuple_Check(item)
        || !PyArg_ParseTuple(item, "inKO;a step is (kind, slot, arg, obj)", &kind, &slot, &arg,
                             &obj))
        goto bad;
    if (kind < 0 || kind > K_LAST || slot < -2 || slot >= nslots)
        goto bad;
    step->kind = kind;
    step->slot = slot;
    step->arg = arg;
    if (kind == K_ENUM) {
        PyObject *table, *field;
        if (!PyTuple_Check(obj) || PyTuple_GET_SIZE(obj) != 2)
            goto bad;
        table = PyTuple_GET_ITEM(obj, 0);
        field = PyTuple_GET_ITEM(obj, 1);
        if (table != Py_None
            && (!PyTuple_Check(table) || (uint64_t)PyTuple_GET_SIZE(table) != arg))
            goto bad;
        step->table = table == Py_None ? NULL : table;
        step->field = field;
    } else if (kind == K_UNION) {
        if (in_union || !PyTuple_Check(obj))
            goto bad;
        if (parse_steps(obj, nslots, 1, &step->branches, &step->nbranches) < 0)
            return -1;
        for (Py_ssize_t i = 0; i < step->nbranches; i++) {
            if (step->branches[i].slot != slot)
                goto bad;
        }
    }
    return 0;
bad:
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "ingest._cavro: not a valid step");
    return -1;
}

static int
parse_steps(PyObject *seq, Py_ssize_t nslots, int in_union, Step **out, Py_ssize_t *count)
{
    if (!PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "steps must be a tuple");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    Step *steps = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Step));
    if (steps == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (parse_step(PyTuple_GET_ITEM(seq, i), nslots, in_union, &steps[i]) < 0) {
            free_steps(steps, i + 1);
            return -1;
        }
    }
    *out = steps;
    *count = n;
    return 0;
}

static PyObject *
Program_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"steps", "slots", "defaults", "malformed", "bad_enum", NULL};
    PyObject *plan, *defaults, *malformed_f, *bad_enum_f;
    Py_ssize_t nslots;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!nO!OO", names, &PyTuple_Type, &plan,
                                     &nslots, &PyTuple_Type, &defaults, &malformed_f,
                                     &bad_enum_f))
        return NULL;
    if (nslots < 0) {
        PyErr_SetString(PyExc_ValueError, "slots must not be negative");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(defaults); i++) {
        PyObject *pair = PyTuple_GET_ITEM(defaults, i);
        Py_ssize_t slot;
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2
            || !PyLong_Check(PyTuple_GET_ITEM(pair, 0))) {
            PyErr_SetString(PyExc_ValueError, "a default is (slot, value)");
            return NULL;
        }
        slot = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
        if (slot < 0 || slot >= nslots) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "a default's slot is out of range");
            return NULL;
        }
    }
    Program *self = (Program *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (parse_steps(plan, nslots, 0, &self->steps, &self->nsteps) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    self->nslots = nslots;
    self->plan = Py_NewRef(plan);
    self->defaults = Py_NewRef(defaults);
    self->malformed = Py_NewRef(malformed_f);
    self->bad_enum = Py_NewRef(bad_enum_f);
    return (PyObject *)self;
}

static int
Program_traverse(Program *self, visitproc visit, void *arg)
{
    Py_VISIT(self->plan);
    Py_VISIT(self->defaults);
    Py_VISIT(self->malformed);
    Py_VISIT(self->bad_enum);
    return 0;
}

static int
Program_clear(Program *self)
{
    Py_CLEAR(self->plan);
    Py_CLEAR(self->defaults);
    Py_CLEAR(self->malformed);
    Py_CLEAR(self->bad_enum);
    return 0;
}

static void
Program_dealloc(Program *self)
{
    PyObject_GC_UnTrack(self);
    Program_clear(self);
    free_steps(self->steps, self->nsteps);
    self->steps = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Program_methods[] = {
    {"read", (PyCFunction)(void (*)(void))Program_read, METH_FASTCALL,
     "read(data, start) -> (values, end): one record body of `data` from `start`."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ProgramType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "ingest._cavro.Program",
    .tp_basicsize = sizeof(Program),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "A resolved Avro record plan (see ingest.avro_reader), read in C.",
    .tp_new = Program_new,
    .tp_dealloc = (destructor)Program_dealloc,
    .tp_traverse = (traverseproc)Program_traverse,
    .tp_clear = (inquiry)Program_clear,
    .tp_methods = Program_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "ingest._cavro",
    .m_doc = "The Avro record reader of ingest.avro_reader, compiled.",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__cavro(void)
{
    if (PyType_Ready(&ProgramType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Program", (PyObject *)&ProgramType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    static const char *kinds[] = {"NULL", "BOOL", "LONG", "LONG_F", "FLOAT", "DOUBLE",
                                  "STRING", "BYTES", "ENUM", "FIXED", "UNION"};
    for (int i = 0; i <= K_LAST; i++) {
        if (PyModule_AddIntConstant(m, kinds[i], i) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
