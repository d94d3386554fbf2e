/* libnghttp2, or stand-ins when the build did not find it (setup.py defines FASTWSGI_HTTP2=1 and links it when
   nghttp2/nghttp2.h compiles). The stand-ins only let io/h2.pyx compile: nothing calls them, since the Loop refuses
   HTTP/2 options when FASTWSGI_HTTP2 is 0. */
#ifndef FASTWSGI_H2SHIM_H
#define FASTWSGI_H2SHIM_H

#if FASTWSGI_HTTP2
#include <nghttp2/nghttp2.h>
#define FW_NGHTTP2_VERSION NGHTTP2_VERSION
#else
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#define FW_NGHTTP2_VERSION ""
typedef struct nghttp2_session nghttp2_session;
typedef struct nghttp2_session_callbacks nghttp2_session_callbacks;
typedef struct nghttp2_option nghttp2_option;
typedef struct { uint8_t *name; uint8_t *value; size_t namelen; size_t valuelen; uint8_t flags; } nghttp2_nv;
typedef struct { size_t length; int32_t stream_id; uint8_t type; uint8_t flags; uint8_t reserved; } nghttp2_frame_hd;
typedef struct { nghttp2_frame_hd hd; int cat; } nghttp2_headers;
typedef union { nghttp2_frame_hd hd; nghttp2_headers headers; } nghttp2_frame;
typedef union { int fd; void *ptr; } nghttp2_data_source;
typedef ssize_t (*nghttp2_data_source_read_callback)(nghttp2_session *, int32_t, uint8_t *, size_t, uint32_t *,
                                                     nghttp2_data_source *, void *);
typedef struct { nghttp2_data_source source; nghttp2_data_source_read_callback read_callback; } nghttp2_data_provider;
typedef struct { int32_t settings_id; uint32_t value; } nghttp2_settings_entry;
typedef int (*nghttp2_on_begin_headers_callback)(nghttp2_session *, const nghttp2_frame *, void *);
typedef int (*nghttp2_on_header_callback)(nghttp2_session *, const nghttp2_frame *, const uint8_t *, size_t,
                                          const uint8_t *, size_t, uint8_t, void *);
typedef int (*nghttp2_on_frame_recv_callback)(nghttp2_session *, const nghttp2_frame *, void *);
typedef int (*nghttp2_on_data_chunk_recv_callback)(nghttp2_session *, uint8_t, int32_t, const uint8_t *, size_t,
                                                   void *);
typedef int (*nghttp2_on_stream_close_callback)(nghttp2_session *, int32_t, uint32_t, void *);
enum { NGHTTP2_HEADERS = 1, NGHTTP2_DATA = 0, NGHTTP2_RST_STREAM = 3, NGHTTP2_GOAWAY = 7 };
enum { NGHTTP2_FLAG_NONE = 0, NGHTTP2_FLAG_END_STREAM = 1 };
enum { NGHTTP2_HCAT_REQUEST = 0 };
enum { NGHTTP2_DATA_FLAG_EOF = 1 };
enum { NGHTTP2_NV_FLAG_NONE = 0 };
enum { NGHTTP2_NO_ERROR = 0, NGHTTP2_PROTOCOL_ERROR = 1, NGHTTP2_INTERNAL_ERROR = 2, NGHTTP2_REFUSED_STREAM = 7,
       NGHTTP2_ENHANCE_YOUR_CALM = 11 };
enum { NGHTTP2_ERR_DEFERRED = -508, NGHTTP2_ERR_CALLBACK_FAILURE = -902, NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE = -521 };
enum { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS = 3, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE = 4,
       NGHTTP2_SETTINGS_MAX_FRAME_SIZE = 5, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE = 6 };
#define FW_H2_STUB { return -1; }
static inline int nghttp2_session_callbacks_new(nghttp2_session_callbacks **c) FW_H2_STUB
static inline void nghttp2_session_callbacks_del(nghttp2_session_callbacks *c) { (void)c; }
#define nghttp2_session_callbacks_set_on_begin_headers_callback(c, f) ((void)(c), (void)(f))
#define nghttp2_session_callbacks_set_on_header_callback(c, f) ((void)(c), (void)(f))
#define nghttp2_session_callbacks_set_on_frame_recv_callback(c, f) ((void)(c), (void)(f))
#define nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, f) ((void)(c), (void)(f))
#define nghttp2_session_callbacks_set_on_stream_close_callback(c, f) ((void)(c), (void)(f))
static inline int nghttp2_option_new(nghttp2_option **o) FW_H2_STUB
static inline void nghttp2_option_del(nghttp2_option *o) { (void)o; }
#define nghttp2_option_set_max_settings(o, v) ((void)(o), (void)(v))
#define nghttp2_option_set_max_send_header_block_length(o, v) ((void)(o), (void)(v))
#define nghttp2_option_set_max_outbound_ack(o, v) ((void)(o), (void)(v))
#define nghttp2_option_set_stream_reset_rate_limit(o, a, b) ((void)(o), (void)(a), (void)(b))
#define nghttp2_option_set_max_continuations(o, v) ((void)(o), (void)(v))
static inline int nghttp2_session_server_new2(nghttp2_session **s, const nghttp2_session_callbacks *c, void *u,
                                              const nghttp2_option *o) FW_H2_STUB
static inline void nghttp2_session_del(nghttp2_session *s) { (void)s; }
static inline ssize_t nghttp2_session_mem_recv(nghttp2_session *s, const uint8_t *d, size_t n) FW_H2_STUB
static inline ssize_t nghttp2_session_mem_send(nghttp2_session *s, const uint8_t **d) FW_H2_STUB
static inline int nghttp2_submit_settings(nghttp2_session *s, uint8_t f, const nghttp2_settings_entry *e, size_t n)
    FW_H2_STUB
static inline int nghttp2_submit_response(nghttp2_session *s, int32_t id, const nghttp2_nv *nva, size_t n,
                                          const nghttp2_data_provider *d) FW_H2_STUB
static inline int nghttp2_submit_headers(nghttp2_session *s, uint8_t f, int32_t id, const void *p,
                                         const nghttp2_nv *nva, size_t n, void *u) FW_H2_STUB
static inline int nghttp2_submit_rst_stream(nghttp2_session *s, uint8_t f, int32_t id, uint32_t e) FW_H2_STUB
static inline int nghttp2_submit_shutdown_notice(nghttp2_session *s) FW_H2_STUB
static inline int nghttp2_submit_goaway(nghttp2_session *s, uint8_t f, int32_t last, uint32_t e, const uint8_t *d,
                                        size_t n) FW_H2_STUB
static inline int nghttp2_session_upgrade2(nghttp2_session *s, const uint8_t *p, size_t n, int h, void *u) FW_H2_STUB
static inline int nghttp2_session_resume_data(nghttp2_session *s, int32_t id) FW_H2_STUB
static inline int32_t nghttp2_session_get_last_proc_stream_id(nghttp2_session *s) FW_H2_STUB
static inline int nghttp2_session_want_read(nghttp2_session *s) { (void)s; return 0; }
static inline int nghttp2_session_want_write(nghttp2_session *s) { (void)s; return 0; }
static inline int nghttp2_session_set_local_window_size(nghttp2_session *s, uint8_t f, int32_t id, int32_t w)
    FW_H2_STUB
static inline const char *nghttp2_strerror(int e) { (void)e; return "HTTP/2 not built"; }
#endif

/* the stream-reset rate limit (CVE-2023-44487) and the CONTINUATION cap (CVE-2024-27316) came in nghttp2 1.57 and
   1.61; distributions backport them (Debian 12's 1.52.0-1+deb12u3 has both): configure and test them where they
   exist, else rely on max_concurrent_streams and the header list bound */
#if FASTWSGI_HTTP2 && !defined(FW_HAVE_RESET_RATE)
#define FW_HAVE_RESET_RATE 0
#define nghttp2_option_set_stream_reset_rate_limit(o, a, b) ((void)(o), (void)(a), (void)(b))
#endif
#if FASTWSGI_HTTP2 && !defined(FW_HAVE_MAX_CONTINUATIONS)
#define FW_HAVE_MAX_CONTINUATIONS 0
#define nghttp2_option_set_max_continuations(o, v) ((void)(o), (void)(v))
#endif
#ifndef FW_HAVE_RESET_RATE
#define FW_HAVE_RESET_RATE 0
#endif
#ifndef FW_HAVE_MAX_CONTINUATIONS
#define FW_HAVE_MAX_CONTINUATIONS 0
#endif

#endif
