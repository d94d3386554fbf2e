cdef enum Framing:
    # how the body of an answer is delimited on the wire, decided once when its head is framed (h11's writers)
    FRAME_UNSET = 0         # the head is not framed yet
    FRAME_LENGTH = 1        # Content-Length: exactly content_length body bytes (the app's, or known beforehand)
    FRAME_CHUNKED = 2       # Transfer-Encoding: chunked (HTTP/1.1, length unknown)
    FRAME_CLOSE = 3         # close-delimited (HTTP/1.0, length unknown): the connection closes after it
    FRAME_NONE = 4          # no body: a HEAD request, or a 1xx/204/304 status


cdef class Response:
    # start_response of the request being served on one connection, and the framing of its answer into the buffer
    # it is handed. One per Exchange, begun anew per request; its bound method is made once. Whoever sends the
    # answer asks it (the inline methods below) rather than reading its fields.
    cdef:
        object start_response_cb    # bound self.start_response, handed to the app
        object write_cb             # the connection's write(), returned by start_response (PEP 3333)
        object early_hints_cb       # bound self.early_hints: environ["wsgi.early_hints"]
        object hints_cb             # the sender's: a 103 answer's bytes to go out now (None: hints are dropped)
        object logger               # app errors in the framing (Content-Length mismatches)
        const bint *stopping        # the loop's stopping flag: a head sent once the loop stops says Connection: close
        bint started                # start_response called (and validated)
        bint head_sent              # the head is in the write buffer
        bint is_head                # HEAD request: headers only
        bint http10
        bint keep                   # in: the connection would stay open after this answer (until the head is sent)
        bint must_close             # out: the connection closes after this answer
        bint bodyless               # the status has no body (1xx/204/304)
        bint app_close              # the app said Connection: close
        bint clip                   # a wsgi.file_wrapper body: past Content-Length is dropped, no error (a range)
        bint has_date
        bint has_server
        Framing framing
        long long content_length    # before the head: the app's Content-Length (-1: none); FRAME_LENGTH: the length
        long long sent              # body bytes the app produced (counted against content_length)
        bytes status_line
        bytes date_line             # the loop's cached Date line when the request began
        str status
        list headers                # the app's list, kept for post_request
        CBuf head                   # serialised, validated app headers

    @staticmethod
    cdef Response new(object write_cb, object hints_cb, object logger, const bint *stopping)
    cdef void begin(self, bint is_head, bint http10, bint keep, bytes date_line)
    cdef int send_head(self, CBuf *out, long long known_length) except -1   # head into out (-1: length unknown)
    cdef int body(self, CBuf *out, object data) except -1                  # one body piece: framing and limits
    cdef int finish(self, CBuf *out) except -1                             # last chunk, length check
    cdef int end(self, CBuf *out, object uri) except -1    # finish(), or a 500 if start_response was never called
    cdef int fail(self, CBuf *out, int status) except -1                   # an error answer instead of the app's

    # what the sender asks
    cdef inline bint ready(self):               # start_response was called: a head can be framed
        return self.started
    cdef inline bint committed(self):           # the head is framed: an error can no longer replace the answer
        return self.head_sent
    cdef inline bint closes(self):              # the connection closes after this answer
        return self.must_close
    cdef inline bint wants_body(self):          # (once ready) the answer carries a body: worth a sendfile(2)
        return not self.is_head and not self.bodyless
    cdef inline long long file_span(self, long long size):    # of a file of `size` bytes, what goes out
        return self.content_length if 0 <= self.content_length < size else size
    cdef inline bint length_reached(self):      # a clipped body: its announced length is out, stop reading it
        return self.clip and 0 <= self.content_length <= self.sent
    cdef inline void count_sent(self, long long n):    # body bytes sent by other means (sendfile)
        self.sent += n


cdef bytes error_response(int status, bytes date_line, bint is_head)       # a closing plain-text error answer
cdef Py_ssize_t list_body_length(list result) except -2      # total bytes of a list of bytes, else -1
