cdef class Response:
    # start_response of the request being served on one connection, and the framing of its answer into the buffer
    # it is handed. One per connection, begun anew per request; its bound method is made once per connection.
    # Reports must_close: the connection must close after this answer (the app said so, the body is
    # close-delimited or its length was wrong, or the connection asked for it with keep=False).
    cdef:
        object start_response_cb    # bound self.start_response, handed to the app
        object write_cb             # the connection's write(), returned by start_response (PEP 3333)
        object logger               # app errors in the framing (Content-Length mismatches)
        bint started                # start_response called (and validated)
        bint head_sent              # the head is in the write buffer
        bint is_head                # HEAD request: headers only
        bint no_body                # 1xx/204/304: no body, no framing headers
        bint http10
        bint keep                   # in: the connection would stay open after this answer (until the head is sent)
        const bint *stopping        # the loop's stopping flag: a head sent once the loop stops says Connection: close
        bint must_close             # out: the connection closes after this answer
        bint has_cl                 # the app gave Content-Length
        bint clip                   # a wsgi.file_wrapper body: past Content-Length is dropped, no error (a range)
        bint chunked
        bint close_after            # close-delimited body or the app said Connection: close
        bint has_date
        bint has_server
        long long content_length
        long long sent              # body bytes the app produced (counted against content_length)
        bytes status_line
        bytes date_line             # the loop's cached Date line when the request began
        str status
        list headers                # the app's list, kept for post_request
        CBuf head                   # serialised, validated app headers

    @staticmethod
    cdef Response new(object write_cb, object logger, const bint *stopping)
    cdef void begin(self, bint is_head, bint http10, bint keep, bytes date_line)
    cdef int send_head(self, CBuf *out, long long known_length) except -1   # head into out (-1: length unknown)
    cdef int body(self, CBuf *out, object data) except -1                  # one body piece: framing and limits
    cdef int finish(self, CBuf *out) except -1                             # last chunk, length check
    cdef int end(self, CBuf *out, object uri) except -1    # finish(), or a 500 if start_response was never called
    cdef int fail(self, CBuf *out, int status) except -1                   # an error answer instead of the app's


cdef bytes error_response(int status, bytes date_line, bint is_head)       # a closing plain-text error answer
cdef Py_ssize_t list_body_length(list result) except -2      # total bytes of a list of bytes, else -1
