from cffi import FFI
ffi = FFI()
ffi.cdef("int getpid(void);")
ffi.set_source("pyrunc._sys", "#include <unistd.h>")
