cdef class Input:
    # wsgi.input of one request with a body: the whole body, read by the loop before the app is called (the app
    # never waits on the client). Up to `memory` bytes are kept in memory; a larger body is spooled to an anonymous
    # temporary file (tmp_upload_dir, else $TMPDIR), so an upload costs disk, not memory; the disk the worker's spooled
    # bodies take is bounded by spool_limit (spool_admit).
    cdef:
        bytearray buf          # the body in memory: buf[pos:] not yet read by the app (None once spooled)
        Py_ssize_t pos
        object file            # the spooled body (tempfile.TemporaryFile), or None
        Py_ssize_t memory      # bytes kept in memory at most (body_buffer_size)
        bint complete          # the parser saw the end of this body
        long long received     # body bytes seen so far
        long long expected     # its Content-Length (-1: chunked)
        long long held         # bytes of the spool budget counted for this body (spool_held) ...
        long long written      # ... and written to its file (spool_written)

    @staticmethod
    cdef Input new(Py_ssize_t memory, long long expected)
    # the parser's on_body: into memory, or into the file. 0, or the status refusing the body: 413 (can never fit
    # the spool), 503 (the spool budget is taken for now), 507 (the disk refused a write: full, quota)
    cdef int feed(self, bytes data) except -1
    cdef int spool(self) except -1               # count its bytes to come against the spool budget (0, or a status)
    cdef int finish(self) except -1              # the body is complete: rewind the file for the app (0, or 507)
    cdef bytes take(self, Py_ssize_t n)          # n bytes from buf (n <= available)
    cdef Py_ssize_t available(self)              # bytes in memory, not yet read
    cdef object spooled(self)                    # the file of a spooled body (ValueError once released)
    cdef int release(self) except -1             # the app is done: free the memory, delete the file


cdef class EmptyInput:
    # the shared wsgi.input of every bodyless request: always at EOF
    pass
