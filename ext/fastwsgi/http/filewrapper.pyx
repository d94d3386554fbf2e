# wsgi.file_wrapper: a plain block iterator, and sendfile(2) when the file is a regular file with a descriptor.

import io as _io
import stat as _stat


@cython.final
cdef class FileWrapper:

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

    cdef bint sendfile_span(self, int *fd, long long *offset, long long *size) except -1:
        """True when the file can go out with sendfile(2): a regular file with a descriptor; its descriptor, the
        current offset and the bytes from there to its end are stored through the pointers."""
        try:
            fileno = self.filelike.fileno()
            st = os.fstat(fileno)
            if not _stat.S_ISREG(st.st_mode):
                return False
            off = os.lseek(fileno, 0, os.SEEK_CUR)
        except (AttributeError, OSError, ValueError, _io.UnsupportedOperation):
            return False
        fd[0] = fileno
        offset[0] = off
        size[0] = max(st.st_size - off, 0)
        return True
