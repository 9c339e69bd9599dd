/*
 * ddstream: SQL and streams over HTTP APIs (Datadog, generic REST), through the Arrow C stream
 * interface. Generated from ffi/src by cbindgen: do not edit by hand.
 *
 * Conventions:
 * - Strings in are NUL-terminated UTF-8. A NULL or non-UTF-8 argument is an error, never a
 *   crash; where a function says NULL is allowed, it means the default.
 * - `ddstream_error **err` may be NULL. Otherwise `*err` is set to NULL on success and to a new
 *   error on failure, which the caller frees with ddstream_error_free().
 * - Handles (ddstream_stream, ddstream_simulator) are freed with their own function. An
 *   exported struct ArrowArrayStream is independent of its handle: release it with its own
 *   release callback.
 * - Every function is thread-safe. One runtime, owned by the library, runs all requests.
 * - Error messages are one line and never contain API keys.
 *
 * Link: cc app.c -I include -L target/debug -lddstream   (or the static libddstream.a with
 * the system libraries `cargo rustc -p ddstream-ffi --crate-type staticlib -- --print
 * native-static-libs` lists).
 */

#ifndef DDSTREAM_H
#define DDSTREAM_H

#include <stdint.h>
#include <stddef.h>
/* The Arrow C data and stream interfaces, as the Arrow specification defines them. */
#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char* format;
  const char* name;
  const char* metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema** children;
  struct ArrowSchema* dictionary;
  void (*release)(struct ArrowSchema*);
  void* private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void** buffers;
  struct ArrowArray** children;
  struct ArrowArray* dictionary;
  void (*release)(struct ArrowArray*);
  void* private_data;
};

#endif  /* ARROW_C_DATA_INTERFACE */

#ifndef ARROW_C_STREAM_INTERFACE
#define ARROW_C_STREAM_INTERFACE

struct ArrowArrayStream {
  int (*get_schema)(struct ArrowArrayStream*, struct ArrowSchema* out);
  int (*get_next)(struct ArrowArrayStream*, struct ArrowArray* out);
  const char* (*get_last_error)(struct ArrowArrayStream*);
  void (*release)(struct ArrowArrayStream*);
  void* private_data;
};

#endif  /* ARROW_C_STREAM_INTERFACE */


// A configuration value or an argument (NULL, not UTF-8) is invalid. These codes are
// `ddstream::embed::ErrorKind`'s (a test checks them).
#define DDSTREAM_ERR_CONFIG 1

// Unknown adapter name.
#define DDSTREAM_ERR_UNKNOWN_ADAPTER 2

// The API refused a request (see `ddstream_error_status`).
#define DDSTREAM_ERR_API 3

// The API kept answering 429 until the retries were spent.
#define DDSTREAM_ERR_RATE_LIMITED 4

// A page or token cursor repeated.
#define DDSTREAM_ERR_STUCK_CURSOR 5

// The stream was cancelled.
#define DDSTREAM_ERR_CANCELLED 6

// A request got no response.
#define DDSTREAM_ERR_NETWORK 7

// The SQL could not be parsed, planned or run.
#define DDSTREAM_ERR_SQL 8

// A file or socket could not be opened.
#define DDSTREAM_ERR_IO 9

// A 2xx response whose body could not be understood.
#define DDSTREAM_ERR_MALFORMED_RESPONSE 10

// A bug in ddstream (or a panic caught at the boundary).
#define DDSTREAM_ERR_INTERNAL 11

// The API refused a window down to the smallest window allowed.
#define DDSTREAM_ERR_WINDOW_TOO_SMALL 12

// An error: a kind code, an HTTP status (0 when none) and a one-line message. Free it with
// `ddstream_error_free`.
typedef struct ddstream_error ddstream_error;

// A running simulator. Stop and free it with `ddstream_simulator_stop`.
typedef struct ddstream_simulator ddstream_simulator;

// A stream of one API table over a range. Free it with `ddstream_stream_free`.
typedef struct ddstream_stream ddstream_stream;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

// Creates a stream of `adapter` (`datadog_v1`, `datadog_v2_timeseries`, `datadog_v2_scalar`,
// `page_api`, `token_api`) configured by `config_json`: the JSON object of `ddstream::register`
// plus optional `range_start` / `range_end` (epoch seconds or RFC 3339 text). Datadog keys not
// in the config come from `DD_API_KEY` / `DD_APP_KEY`. Nothing is fetched until the stream is
// exported and read.
//
// Returns the stream (free it with `ddstream_stream_free`), or NULL with `*err` set.
//
// # Safety
// `adapter` and `config_json` are NULL or NUL-terminated strings; `err` is NULL or writable.
ddstream_stream *ddstream_stream_create(const char *adapter, const char *config_json, ddstream_error **err);

// Exports the stream's batches to `out` through the Arrow C stream interface (no copy). The
// exported stream shares the handle's run: reading it advances the handle's progress and
// metrics, and `ddstream_stream_cancel` ends it. Release `out` with its `release` callback;
// it stays valid after `ddstream_stream_free`. A failed read reports its message through
// `get_last_error`, prefixed by Arrow with `External error: `.
//
// Returns 0, or an error code (`DDSTREAM_ERR_CONFIG` when an argument is NULL).
//
// # Safety
// `stream` is NULL or a live handle; `out` is NULL or points to writable memory for one
// `struct ArrowArrayStream` holding no live stream.
int32_t ddstream_stream_export(ddstream_stream *stream, struct ArrowArrayStream *out);

// The fraction of the stream fetched, 0..1: of the time range for time tables; for page and
// token sequences 0 until the end, then 1. -1 when `stream` is NULL.
//
// # Safety
// `stream` is NULL or a live handle.
double ddstream_stream_progress(const ddstream_stream *stream);

// The engine counters as a JSON object (`requests`, `retries`, `splits`, `rows`,
// `bytes_received`, `throttled_ms`, `network_wait_ms`, `consumer_wait_ms`, `range_done_ms`,
// `range_total_ms`, `progress`, `done`). The caller frees the text with
// `ddstream_string_free`. NULL when `stream` is NULL.
//
// # Safety
// `stream` is NULL or a live handle.
char *ddstream_stream_metrics(const ddstream_stream *stream);

// Stops fetching: requests in flight are dropped and none starts afterwards; the exported
// stream then fails with a "cancelled" error. Any thread may call it, also while another
// thread reads. NULL is ignored.
//
// # Safety
// `stream` is NULL or a live handle.
void ddstream_stream_cancel(const ddstream_stream *stream);

// Frees a stream handle (an exported `struct ArrowArrayStream` stays valid until released).
// NULL is ignored.
//
// # Safety
// `stream` is NULL or a live handle, not used afterwards.
void ddstream_stream_free(ddstream_stream *stream);

// Runs `sql` (one or more `;`-separated statements) in a new session configured by
// `session_config_json` (NULL means `{}`): `{"tables": {"cpu": {"adapter": "datadog_v1",
// "query": "..."}}, "simulate": true, "simulator": {...}, "settings": {"ddstream.max_range":
// "2h"}}`. The SQL surface is the CLI's: `STORED AS`, the table functions, the downsampling
// functions. The last statement's result is written to `out` (release it with its `release`
// callback; it keeps the session's simulator alive until then).
//
// Returns 0, or an error code with `*err` set.
//
// # Safety
// `sql` and `session_config_json` are NULL or NUL-terminated strings; `out` is NULL or points
// to writable memory for one `struct ArrowArrayStream` holding no live stream; `err` is NULL or
// writable.
int32_t ddstream_query(const char *sql, const char *session_config_json, struct ArrowArrayStream *out, ddstream_error **err);

// Checks `config_json` for `adapter` as `ddstream_stream_create` would, then, for Datadog
// adapters, the API key with `GET /api/v1/validate`.
//
// Returns 0 when valid, or an error code with `*err` set (`DDSTREAM_ERR_API` with status 403
// for a rejected key).
//
// # Safety
// `adapter` and `config_json` are NULL or NUL-terminated strings; `err` is NULL or writable.
int32_t ddstream_validate(const char *adapter, const char *config_json, ddstream_error **err);

// Starts the built-in API simulator on `127.0.0.1` with its JSON settings (NULL or `""` for
// the defaults): `{"latency_ms": 200, "rate_limit": "100/10s", "faults": "p=0.1; kinds=500",
// "api_key": "...", "app_key": "...", "bearer_token": "...", "max_points": 1500}`.
//
// Returns the handle (stop and free it with `ddstream_simulator_stop`), or NULL with `*err`.
//
// # Safety
// `config_json` is NULL or a NUL-terminated string; `err` is NULL or writable.
ddstream_simulator *ddstream_simulator_start(const char *config_json, ddstream_error **err);

// The simulator's `http://127.0.0.1:PORT`, owned by the handle (valid until
// `ddstream_simulator_stop`). NULL when `sim` is NULL.
//
// # Safety
// `sim` is NULL or a live handle.
const char *ddstream_simulator_base_url(const ddstream_simulator *sim);

// Stops the simulator and frees its handle. NULL is ignored.
//
// # Safety
// `sim` is NULL or a live handle, not used afterwards.
void ddstream_simulator_stop(ddstream_simulator *sim);

// Frees a string this library returned to the caller (`ddstream_stream_metrics`). NULL is
// ignored.
//
// # Safety
// `s` is NULL or a string from this library, not used afterwards.
void ddstream_string_free(char *s);

// The library's version, e.g. `"0.1.0"`; static, never freed.
const char *ddstream_version(void);

// The error's message: one line, never a key. Owned by the error (valid until
// `ddstream_error_free`). NULL when `err` is NULL.
//
// # Safety
// `err` is NULL or an error this library returned that has not been freed.
const char *ddstream_error_message(const ddstream_error *err);

// The error's kind: one of the `DDSTREAM_ERR_*` codes (never 0); 0 when `err` is NULL.
//
// # Safety
// `err` is NULL or an error this library returned that has not been freed.
int32_t ddstream_error_code(const ddstream_error *err);

// The HTTP status of an API error (`DDSTREAM_ERR_API`, `DDSTREAM_ERR_RATE_LIMITED`); 0 when
// there is none or `err` is NULL.
//
// # Safety
// `err` is NULL or an error this library returned that has not been freed.
uint16_t ddstream_error_status(const ddstream_error *err);

// The API's own error message for API errors, owned by the error; NULL when there is none or
// `err` is NULL.
//
// # Safety
// `err` is NULL or an error this library returned that has not been freed.
const char *ddstream_error_api_message(const ddstream_error *err);

// Frees an error. NULL is ignored.
//
// # Safety
// `err` is NULL or an error this library returned that has not been freed.
void ddstream_error_free(ddstream_error *err);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* DDSTREAM_H */
