// OperatorStats, sent on StreamData every interval (60 s by default): how the aggregator itself is doing, in the
// shape of the published (Go) operator's message. Node's figures map onto the Go-named fields as follows:
//   memory_alloc_bytes      V8 heap used            memory_sys_bytes   resident set size (rss)
//   memory_heap_inuse_bytes V8 heap total           num_goroutines     active libuv handles and requests
//   num_gc_cycles           garbage collections since start (PerformanceObserver 'gc')
//   cpu_usage_nano_cores    process CPU time over the interval / wall time, in nano cores
//   memory_usage_bytes      cgroup memory.current (else rss)
//   cpu_limit_nano_cores, memory_limit_bytes   cgroup v2 cpu.max and memory.max (0 = no limit)
// plus stream health, messages sent and dropped, and informers (none yet: 0 of 0).
import { PerformanceObserver } from 'node:perf_hooks';
import type { OperatorStats } from '@kestrel/proto/cloud/v1';
import { readCgroup } from './cgroup.js';

export interface StatsSources {
  dataStreamHealthy(): boolean;
  controlStreamHealthy(): boolean;
  messagesSent(): Promise<number>;
  messagesDropped(): Promise<number>;
  informers(): { synced: number; total: number };
}

export class OperatorStatsCollector {
  private lastCpu = process.cpuUsage();
  private lastAt = process.hrtime.bigint();
  private gcCycles = 0;
  private readonly observer: PerformanceObserver;

  constructor(
    private readonly sources: StatsSources,
    private readonly cgroupRoot = '/sys/fs/cgroup',
  ) {
    this.observer = new PerformanceObserver((list) => {
      this.gcCycles += list.getEntries().length;
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  async collect(now = new Date()): Promise<OperatorStats> {
    const cpu = process.cpuUsage();
    const at = process.hrtime.bigint();
    const cpuMicros = cpu.user - this.lastCpu.user + (cpu.system - this.lastCpu.system);
    const wallNanos = Number(at - this.lastAt);
    this.lastCpu = cpu;
    this.lastAt = at;
    const memory = process.memoryUsage();
    const cgroup = readCgroup(this.cgroupRoot);
    const informers = this.sources.informers();
    return {
      timestamp: { seconds: Math.floor(now.getTime() / 1000), nanos: (now.getTime() % 1000) * 1_000_000 },
      memoryAllocBytes: memory.heapUsed,
      memorySysBytes: memory.rss,
      memoryHeapInuseBytes: memory.heapTotal,
      numGoroutines: process.getActiveResourcesInfo().length,
      numGcCycles: this.gcCycles >>> 0,
      cpuUsageNanoCores: wallNanos > 0 ? Math.round((cpuMicros * 1000 * 1e9) / wallNanos) : 0,
      memoryUsageBytes: cgroup.memoryCurrentBytes ?? memory.rss,
      cpuLimitNanoCores: cgroup.cpuLimitNanoCores,
      memoryLimitBytes: cgroup.memoryLimitBytes,
      dataStreamHealthy: this.sources.dataStreamHealthy(),
      controlStreamHealthy: this.sources.controlStreamHealthy(),
      totalMessagesSent: await this.sources.messagesSent(),
      totalMessagesDropped: await this.sources.messagesDropped(),
      informersSynced: informers.synced,
      informersTotal: informers.total,
    };
  }

  close(): void {
    this.observer.disconnect();
  }
}
