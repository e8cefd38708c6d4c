// Shim header for the CGRPCCore system library module.
//
// The libc headers come first on purpose: grpc's port_platform.h defines _GNU_SOURCE, and if it
// is seen before <sys/select.h> Clang builds a second `fd_set` that conflicts with SwiftGlibc's.
// The static inline helpers stand in for C macros that Swift cannot import.
#ifndef EVSSNAP_CGRPCCORE_SHIM_H
#define EVSSNAP_CGRPCCORE_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/select.h>
#include <time.h>
#include <pthread.h>
#include <signal.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/status.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

/* glibc declares this only under _GNU_SOURCE, which must not be defined before the libc headers. */
extern int pthread_setname_np(pthread_t thread, const char *name);

/// Names the calling thread (at most 15 bytes are kept), for ps/gdb.
static inline void cgrpc_set_current_thread_name(const char *name) {
    pthread_setname_np(pthread_self(), name);
}

/// GRPC_SLICE_START_PTR as a function.
static inline const uint8_t *cgrpc_slice_start(const grpc_slice *slice) {
    return GRPC_SLICE_START_PTR(*slice);
}

/// GRPC_SLICE_LENGTH as a function.
static inline size_t cgrpc_slice_length(const grpc_slice *slice) {
    return GRPC_SLICE_LENGTH(*slice);
}

/// GRPC_PROPAGATE_DEFAULTS as a function.
static inline uint32_t cgrpc_propagate_defaults(void) {
    return GRPC_PROPAGATE_DEFAULTS;
}

/// Reads a whole byte buffer into one slice (owned by the caller, who must grpc_slice_unref it).
/// Wraps the reader init/readall/destroy sequence so that the reader never leaves C.
/// Returns an empty slice when the reader cannot be initialised (corrupt compressed payload).
static inline grpc_slice cgrpc_byte_buffer_read_all(grpc_byte_buffer *buffer) {
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, buffer)) {
        return grpc_empty_slice();
    }
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    return all;
}

/// Reads a received byte buffer into `*out` (owned by the caller: grpc_slice_unref). Returns 0, with an empty
/// slice, when the buffer cannot be read: a compressed message that does not decompress.
static inline int cgrpc_byte_buffer_read_all_checked(grpc_byte_buffer *buffer, grpc_slice *out) {
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, buffer)) {
        *out = grpc_empty_slice();
        return 0;
    }
    *out = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    return 1;
}

/// Makes a raw byte buffer holding a copy of `length` bytes (owned by the caller:
/// grpc_byte_buffer_destroy once the batch that sends it has completed).
static inline grpc_byte_buffer *cgrpc_byte_buffer_copy(const void *bytes, size_t length) {
    grpc_slice slice = grpc_slice_from_copied_buffer((const char *)bytes, length);
    grpc_byte_buffer *buffer = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return buffer;
}

/// One integer channel argument; `key` must outlive the call that takes the args.
static inline grpc_arg cgrpc_integer_arg(char *key, int value) {
    grpc_arg arg;
    memset(&arg, 0, sizeof arg);
    arg.type = GRPC_ARG_INTEGER;
    arg.key = key;
    arg.value.integer = value;
    return arg;
}

/// Receive/send slots of one batch (grpc_call_start_batch). Allocated once per batch at a stable
/// heap address, zero-initialised; the batch's ops point into it until the batch completes.
typedef struct {
    grpc_byte_buffer *send_message;            /* owned: destroyed after completion */
    grpc_slice status_details;                 /* owned: unref after completion */
    grpc_metadata_array recv_initial_metadata; /* array owned; entries belong to the call */
    grpc_metadata_array recv_trailing_metadata;
    grpc_byte_buffer *recv_message;            /* owned once received */
    grpc_status_code recv_status;
    grpc_slice recv_status_details;            /* owned once received */
    const char *recv_error_string;             /* owned once received: gpr_free */
    int cancelled;
} cgrpc_batch_slots;

/// Slots that grpc_server_request_call / grpc_server_request_registered_call fill in later.
typedef struct {
    grpc_call *call;                           /* one reference, handed to the Swift call object */
    gpr_timespec deadline;
    grpc_metadata_array request_metadata;      /* array owned; entries belong to the call */
    grpc_byte_buffer *payload;                 /* owned once received */
    grpc_call_details details;                 /* owned: grpc_call_details_destroy */
} cgrpc_request_slots;

#endif
