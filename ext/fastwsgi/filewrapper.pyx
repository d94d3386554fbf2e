# wsgi.file_wrapper: a plain block iterator, and sendfile(2) when the file is a regular file with a descriptor.

import io as _io
import stat as _stat


@cython.final
cdef class FileWrapper:
    cdef public object filelike
    cdef public int blksize

    def __init__(self, filelike, int blksize=8192):
        self.filelike = filelike
        self.blksize = blksize

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration

    def close(self):
        close = getattr(self.filelike, "close", None)
        if close is not None:
            close()

    cdef bint prepare_sendfile(self, Connection conn) except -1:
        """Put the head in the write buffer and set the connection up to sendfile() the rest of the file."""
        cdef Response resp = conn.resp
        cdef long long size, count
        try:
            fd = self.filelike.fileno()
            st = os.fstat(fd)
            if not _stat.S_ISREG(st.st_mode):
                return False
            off = os.lseek(fd, 0, os.SEEK_CUR)
        except (AttributeError, OSError, ValueError, _io.UnsupportedOperation):
            return False
        size = max(st.st_size - off, 0)
        count = min(resp.content_length, size) if resp.has_cl else size
        resp.send_head(size)
        resp.sent = 0
        conn.sf_fd = fd
        conn.sf_off = off
        conn.sf_left = count
        return True
