cdef class FileWrapper:
    # wsgi.file_wrapper: iterates the file in blocks; the connection sends a regular file with sendfile(2) instead
    cdef public object filelike
    cdef public int blksize

    cdef bint sendfile_span(self, int *fd, long long *offset, long long *size) except -1   # False: iterate instead
