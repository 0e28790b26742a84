/**
 * Prometheus text exposition (format 0.0.4) of the server's counters: requests by method, route
 * pattern and status; a latency histogram per route; queue depth; resident memory; live tensors.
 * Routes are patterns ('/v1/cases/:id'), never raw URLs, so ids never reach the metrics.
 *
 * @example
 *   m.observe('POST', '/v1/grade', 200, 0.042);
 *   m.render({ queueDepth: 0, running: 0, rejected: 0, dropped: 0, liveTensors: 12 }) // text/plain; version=0.0.4
 */

/** Histogram upper bounds in seconds. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

interface Histogram {
  counts: number[];
  sum: number;
  n: number;
}

/** Escapes a label value (backslash, quote, newline). */
function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export interface GaugeValues {
  queueDepth: number;
  running: number;
  rejected: number;
  /** Jobs dropped unstarted because their client disconnected. */
  dropped: number;
  liveTensors: number;
}

export class ServeMetrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly started = Date.now();

  /** Records one finished request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method}\u0000${route}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
    let h = this.latency.get(route);
    if (h === undefined) {
      h = { counts: LATENCY_BUCKETS_S.map(() => 0), sum: 0, n: 0 };
      this.latency.set(route, h);
    }
    LATENCY_BUCKETS_S.forEach((le, i) => {
      if (seconds <= le) h.counts[i] = (h.counts[i] as number) + 1;
    });
    h.sum += seconds;
    h.n++;
  }

  /** The exposition text. */
  render(g: GaugeValues): string {
    const lines: string[] = [];
    const head = (name: string, type: string, help: string): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    head('retalign_http_requests_total', 'counter', 'HTTP requests by method, route pattern and status code.');
    for (const [key, n] of [...this.requests].sort()) {
      const [method, route, status] = key.split('\u0000') as [string, string, string];
      lines.push(`retalign_http_requests_total{method="${label(method)}",route="${label(route)}",status="${status}"} ${n}`);
    }
    head('retalign_http_request_duration_seconds', 'histogram', 'Request latency by route pattern, from arrival to the response sent.');
    for (const [route, h] of [...this.latency].sort((a, b) => a[0].localeCompare(b[0]))) {
      const r = label(route);
      LATENCY_BUCKETS_S.forEach((le, i) => lines.push(`retalign_http_request_duration_seconds_bucket{route="${r}",le="${le}"} ${h.counts[i]}`));
      lines.push(`retalign_http_request_duration_seconds_bucket{route="${r}",le="+Inf"} ${h.n}`);
      lines.push(`retalign_http_request_duration_seconds_sum{route="${r}"} ${h.sum}`);
      lines.push(`retalign_http_request_duration_seconds_count{route="${r}"} ${h.n}`);
    }
    head('retalign_inference_queue_depth', 'gauge', 'Inference jobs waiting for the model.');
    lines.push(`retalign_inference_queue_depth ${g.queueDepth}`);
    head('retalign_inference_running', 'gauge', 'Inference jobs running now.');
    lines.push(`retalign_inference_running ${g.running}`);
    head('retalign_inference_rejected_total', 'counter', 'Inference jobs refused with 503 because the queue was full.');
    lines.push(`retalign_inference_rejected_total ${g.rejected}`);
    head('retalign_inference_dropped_total', 'counter', 'Inference jobs dropped unstarted because their client disconnected.');
    lines.push(`retalign_inference_dropped_total ${g.dropped}`);
    head('retalign_live_tensors', 'gauge', 'Tensors held by JavaScript and not yet disposed.');
    lines.push(`retalign_live_tensors ${g.liveTensors}`);
    head('process_resident_memory_bytes', 'gauge', 'Resident set size of the server process.');
    lines.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    head('process_uptime_seconds', 'gauge', 'Seconds since the server started.');
    lines.push(`process_uptime_seconds ${(Date.now() - this.started) / 1000}`);
    return lines.join('\n') + '\n';
  }
}
