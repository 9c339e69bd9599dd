/*
 * ddstream from C: starts the built-in simulator, streams one day of v1 data through the Arrow
 * C stream interface printing its rows, then runs one SQL query over the same day.
 * Build and run: bash examples/c/run.sh
 *
 * Prints `sql: ...` (the query), `rows: N` (rows streamed) and `sql count: M` (the query's
 * count(*)) last.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ddstream.h"

#define DAY "range_start\": \"2026-01-01T00:00:00Z\", \"range_end\": \"2026-01-02T00:00:00Z"
#define SQL                                                                        \
  "SELECT count(*) AS n FROM datadog_v1 WHERE ts >= TIMESTAMP '2026-01-01T00:00:00Z' " \
  "AND ts < TIMESTAMP '2026-01-02T00:00:00Z'"

static int fail(const char *what, ddstream_error *err) {
  fprintf(stderr, "%s failed (code %d): %s\n", what, ddstream_error_code(err),
          err ? ddstream_error_message(err) : "(no details)");
  ddstream_error_free(err);
  return 1;
}

/* The index of the child of `schema` named `name`, or -1. */
static int64_t column(const struct ArrowSchema *schema, const char *name) {
  for (int64_t i = 0; i < schema->n_children; i++) {
    if (strcmp(schema->children[i]->name, name) == 0) return i;
  }
  return -1;
}

/* Whether row `i` of `array` is valid (not null). */
static int valid(const struct ArrowArray *array, int64_t i) {
  const uint8_t *bits = (const uint8_t *)array->buffers[0];
  int64_t j = array->offset + i;
  return bits == NULL || (bits[j / 8] >> (j % 8)) & 1;
}

/* Streams `stream`, printing ts and avg of each row; returns the rows read or -1. */
static int64_t print_rows(struct ArrowArrayStream *stream) {
  struct ArrowSchema schema;
  if (stream->get_schema(stream, &schema) != 0) {
    fprintf(stderr, "get_schema: %s\n", stream->get_last_error(stream));
    return -1;
  }
  int64_t ts_col = column(&schema, "ts"), avg_col = column(&schema, "avg");
  schema.release(&schema);
  if (ts_col < 0 || avg_col < 0) {
    fprintf(stderr, "the v1 schema has no ts or avg column\n");
    return -1;
  }
  int64_t rows = 0;
  for (;;) {
    struct ArrowArray batch;
    if (stream->get_next(stream, &batch) != 0) {
      fprintf(stderr, "get_next: %s\n", stream->get_last_error(stream));
      return -1;
    }
    if (batch.release == NULL) break; /* end of stream */
    const struct ArrowArray *ts = batch.children[ts_col], *avg = batch.children[avg_col];
    const int64_t *ts_ms = (const int64_t *)ts->buffers[1];
    const double *avgs = (const double *)avg->buffers[1];
    for (int64_t i = 0; i < batch.length; i++) {
      int64_t t = ts_ms[ts->offset + i];
      if (valid(avg, i)) {
        printf("%" PRId64 " %.6f\n", t / 1000, avgs[avg->offset + i]);
      } else {
        printf("%" PRId64 " null\n", t / 1000);
      }
    }
    rows += batch.length;
    batch.release(&batch);
  }
  return rows;
}

int main(void) {
  ddstream_error *err = NULL;
  printf("ddstream %s\n", ddstream_version());

  ddstream_simulator *sim = ddstream_simulator_start("{\"latency_ms\": 1}", &err);
  if (sim == NULL) return fail("ddstream_simulator_start", err);

  char config[512];
  snprintf(config, sizeof config,
           "{\"query\": \"system.cpu.user{*}\", \"granularity\": \"60s\", \"base_url\": \"%s\", "
           "\"" DAY "\"}",
           ddstream_simulator_base_url(sim));
  ddstream_stream *s = ddstream_stream_create("datadog_v1", config, &err);
  if (s == NULL) {
    ddstream_simulator_stop(sim);
    return fail("ddstream_stream_create", err);
  }
  struct ArrowArrayStream stream;
  if (ddstream_stream_export(s, &stream) != 0) {
    ddstream_stream_free(s);
    ddstream_simulator_stop(sim);
    fprintf(stderr, "ddstream_stream_export failed\n");
    return 1;
  }
  int64_t rows = print_rows(&stream);
  stream.release(&stream);
  char *metrics = ddstream_stream_metrics(s);
  printf("progress: %.2f\nmetrics: %s\n", ddstream_stream_progress(s), metrics);
  ddstream_string_free(metrics);
  ddstream_stream_free(s);
  ddstream_simulator_stop(sim);
  if (rows < 0) return 1;

  /* The same day through SQL, on a session with its own simulator. */
  struct ArrowArrayStream result;
  if (ddstream_query(SQL, "{\"simulate\": true}", &result, &err) != 0) {
    return fail("ddstream_query", err);
  }
  struct ArrowArray batch;
  int64_t count = -1;
  if (result.get_next(&result, &batch) == 0 && batch.release != NULL) {
    count = ((const int64_t *)batch.children[0]->buffers[1])[batch.children[0]->offset];
    batch.release(&batch);
  } else {
    fprintf(stderr, "query: %s\n", result.get_last_error(&result));
  }
  result.release(&result);

  printf("sql: %s\nrows: %" PRId64 "\nsql count: %" PRId64 "\n", SQL, rows, count);
  return count == rows ? 0 : 1;
}
