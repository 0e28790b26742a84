/**
 * Prometheus metrics (prom-client, one registry per app): requests by method, route pattern and
 * status; a latency histogram per route; the inference queue and the sizes of its batches (requests
 * answered by one forward pass, per lane: grade, search_image, search_text); live tensors; and prom-client's
 * default process and Node.js metrics (resident memory, CPU, heap, event-loop lag).
 * Routes are patterns ('/v1/cases/:id'), never raw URLs, so ids never reach the metrics.
 *
 * @example
 *   m.observe('POST', '/v1/grade', 200, 0.042);
 *   m.observeBatch('grade', 8);
 *   await m.render({ queueDepth: 0, running: 0, rejected: 0, dropped: 0, liveTensors: 12 }) // text/plain; version=0.0.4
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Histogram upper bounds in seconds. */
export const LATENCY_BUCKETS_S: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Batch-size histogram upper bounds (requests per forward pass). */
export const BATCH_BUCKETS: readonly number[] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64];

export interface GaugeValues {
  queueDepth: number;
  running: number;
  rejected: number;
  /** Jobs dropped unstarted because their client disconnected. */
  dropped: number;
  liveTensors: number;
}

export class ServeMetrics {
  private readonly registry = new Registry();
  /** The exposition's content type (text format 0.0.4). */
  readonly contentType: string = this.registry.contentType;
  private readonly requests = new Counter({
    name: 'retalign_http_requests_total', help: 'HTTP requests by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status'] as const, registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'retalign_http_request_duration_seconds', help: 'Request latency by route pattern, from arrival to the response sent.',
    labelNames: ['route'] as const, buckets: [...LATENCY_BUCKETS_S], registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'retalign_batch_size', help: 'Requests answered by one forward pass (dynamic batching), by lane: grade, search_image, search_text.',
    labelNames: ['lane'] as const, buckets: [...BATCH_BUCKETS], registers: [this.registry],
  });
  private readonly depth = this.gauge('retalign_inference_queue_depth', 'Inference jobs waiting for the model.');
  private readonly running = this.gauge('retalign_inference_running', 'Inference jobs running now.');
  private readonly live = this.gauge('retalign_live_tensors', 'Tensors held by JavaScript and not yet disposed.');
  // The queue keeps these totals; they are copied in at each scrape.
  private readonly rejected = this.counter('retalign_inference_rejected_total', 'Inference jobs refused with 503 because the queue was full.');
  private readonly dropped = this.counter('retalign_inference_dropped_total', 'Inference jobs dropped unstarted because their client disconnected.');

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  /** Records one finished request. */
  observe(method: string, route: string, status: number, seconds: number): void {
    this.requests.inc({ method, route, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  /** Records one batch of `size` requests run as one forward pass. */
  observeBatch(lane: string, size: number): void {
    this.batchSize.observe({ lane }, size);
  }

  /** The exposition text, with the gauges as they are now. */
  async render(g: GaugeValues): Promise<string> {
    this.depth.set(g.queueDepth);
    this.running.set(g.running);
    this.live.set(g.liveTensors);
    for (const [c, v] of [[this.rejected, g.rejected], [this.dropped, g.dropped]] as const) {
      c.reset();
      c.inc(v);
    }
    return this.registry.metrics();
  }
}
