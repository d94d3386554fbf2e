cdef class Response:
    # start_response and write() of the request being served on one connection, and the head serialisation.
    # One per connection, reset per request; its bound methods are made once per connection.
    cdef:
        Connection conn
        object start_response_cb    # bound self.start_response, handed to the app
        object write_cb             # bound self.write, returned by start_response
        bint started                # start_response called (and validated)
        bint head_sent              # the head is in the connection's write buffer
        bint is_head                # HEAD request: headers only
        bint no_body                # 1xx/204/304: no body, no framing headers
        bint http10
        bint has_cl                 # the app gave Content-Length
        bint chunked
        bint close_after            # close-delimited body or the app said Connection: close
        bint has_date
        bint has_server
        long long content_length
        long long sent              # body bytes the app produced (counted against content_length)
        bytes status_line
        str status
        list headers                # the app's list, kept for post_request
        CBuf head                   # serialised, validated app headers

    cdef void reset(self, bint is_head, bint http10)
    cdef int send_head(self, long long known_length) except -1   # head into the write buffer
    cdef int body(self, object data) except -1                  # one body piece: framing and limits applied
    cdef int finish(self) except -1                             # last chunk, length check
