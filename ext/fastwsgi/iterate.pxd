# C helpers over CPython iterators (no .pyx: everything is inline C).

cdef extern from *:
    """
    /* The next item of an iterator, or `end` once it is exhausted (StopIteration set or not, cleared): spares
       the exception, traceback and except-clause matching that next() costs at the end of every streamed body. */
    static PyObject *fw_iter_next(PyObject *it, PyObject *end) {
        PyObject *item = Py_TYPE(it)->tp_iternext(it);
        if (item != NULL)
            return item;
        if (PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_StopIteration))
                return NULL;
            PyErr_Clear();
        }
        Py_INCREF(end);
        return end;
    }
    """
    object iter_next "fw_iter_next" (object iterator, object end)   # iterator: from iter()
