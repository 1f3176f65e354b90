// Load generator for the real-time gateway: `npm run bench -- <scenario> [--rate N] [--seconds N]`.
//
// It creates its own PostgreSQL database, starts the API (one or two processes, pinned to core 0
// with taskset) and drives it from this process (pinned to core 1): one authenticated socket per
// channel member, some of which send at a fixed open-loop rate, and every socket times each delivery
// from the message's *scheduled* send time (so a slow server cannot hide its queueing: no
// coordinated omission). The first --warmup seconds (default 2) run at full rate but are not timed.
// Every message is persisted (PostgreSQL) as in production. Results are printed as JSON and
// appended to bench/RESULTS.md with --record.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { SignJWT } from 'jose';
import pg from 'pg';
import { uuidv7 } from 'uuidv7';
import { startApiProcess } from '../test/support/api-process.js';
import { openLeanSocket, type LeanSocket } from './lean-client.js';

type Scenario = {
  description: string;
  channels: number;
  membersPerChannel: number;
  /** Messages per second over all channels. */
  rate: number;
  seconds: number;
  nodes: 1 | 2;
  /** Sockets that only connect (memory per idle connection). */
  idleOnly?: boolean;
  target?: string;
};

const SCENARIOS: Record<string, Scenario> = {
  'channel-100': {
    description: 'one channel, 100 members',
    channels: 1,
    membersPerChannel: 100,
    rate: 1300,
    seconds: 20,
    nodes: 1,
    target: '≥ 1,300 msg/s, p99 < 200 ms, 0 lost',
  },
  'channel-1000': {
    description: 'one channel, 1,000 members',
    channels: 1,
    membersPerChannel: 1000,
    rate: 100,
    seconds: 20,
    nodes: 1,
    target: '≥ 100 msg/s (100k deliveries/s), p99 < 200 ms, 0 lost',
  },
  'channels-1000x10': {
    description: '1,000 channels of 10 members',
    channels: 1000,
    membersPerChannel: 10,
    rate: 2000,
    seconds: 20,
    nodes: 1,
    target: '≥ 2,000 msg/s, p99 ≤ 50 ms',
  },
  'idle-10000': {
    description: '10,000 idle connections',
    channels: 100,
    membersPerChannel: 100,
    rate: 0,
    seconds: 5,
    nodes: 1,
    idleOnly: true,
    target: '≤ 20 KB server memory per idle connection',
  },
  'two-nodes': {
    description: 'two API nodes behind Redis, one channel of 200 members split across them',
    channels: 1,
    membersPerChannel: 200,
    rate: 500,
    seconds: 20,
    nodes: 2,
    target: 'events cross nodes, 0 lost, 0 duplicated',
  },
};

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const JWT_SECRET = randomBytes(32).toString('hex');
// Senders in all (spread over channels): every member of a 100-member channel sends.
const SENDERS_PER_CHANNEL_MAX = 100;
const MESSAGE_PREFIX = Buffer.from('{"type":"chat.message","seq":');
const CONTENT_KEY = Buffer.from('"conteudo":"');
const ERROR_PREFIX = Buffer.from('{"type":"error"');
const ACK_PREFIX = Buffer.from('{"type":"ack","client_id":"b');

const startsWith = (data: Buffer, prefix: Buffer) =>
  data.length >= prefix.length && data.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    rate: { type: 'string' },
    seconds: { type: 'string' },
    members: { type: 'string' },
    record: { type: 'boolean', default: false },
    warmup: { type: 'string' },
  },
});
const scenarioName = positionals[0] ?? '';
const baseScenario = SCENARIOS[scenarioName];
if (!baseScenario) {
  console.error(
    `usage: npm run bench -- <${Object.keys(SCENARIOS).join('|')}> [--rate N] [--seconds N] [--warmup N] [--record]`,
  );
  process.exit(2);
}
const scenario: Scenario = {
  ...baseScenario,
  rate: values.rate ? Number(values.rate) : baseScenario.rate,
  seconds: values.seconds ? Number(values.seconds) : baseScenario.seconds,
  membersPerChannel: values.members ? Number(values.members) : baseScenario.membersPerChannel,
};
// The first seconds at full rate warm up the JIT, PostgreSQL's caches and every pooled connection's
// plans; their deliveries are checked for loss and order like all others but not timed.
const warmupSeconds = scenario.idleOnly ? 0 : values.warmup !== undefined ? Number(values.warmup) : 2;

async function main() {
  const dbName = `hubx_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;
  const servers: Array<{ child: ChildProcess; port: number; dataDir: string }> = [];
  const prefix = `hubx-bench-${randomBytes(4).toString('hex')}:`;
  try {
    for (let node = 0; node < scenario.nodes; node++) {
      servers.push(
        await startServer({
          DATABASE_URL: dbUrl.toString(),
          ...(scenario.nodes > 1 ? { REDIS_URL, REDIS_PREFIX: prefix } : {}),
        }),
      );
    }
    const db = new pg.Client({ connectionString: dbUrl.toString() });
    await db.connect();
    const setup = await seed(db);
    await db.end();
    const result = await run(setup, servers);
    const report = { scenario: scenarioName, ...scenario, ...result };
    console.log(JSON.stringify(report, null, 2));
    if (values.record) record(report);
  } finally {
    // SIGTERM: a graceful stop (and a written CPU profile when asked for one).
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(
      servers.map(
        (server) =>
          new Promise((resolve) => {
            server.child.once('exit', resolve);
            setTimeout(() => resolve(server.child.kill('SIGKILL')), 15_000);
          }),
      ),
    );
    for (const server of servers) rmSync(server.dataDir, { recursive: true, force: true });
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}

/** The V8 flags `npm start` gives the server (package.json), so the bench runs what operators run. */
function startScriptFlags(): string[] {
  const scripts = (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;
  return scripts.start!.split(' ').filter((arg) => arg.startsWith('--max-'));
}

async function startServer(
  env: Record<string, string>,
): Promise<{ child: ChildProcess; port: number; dataDir: string }> {
  const profile = [
    ...startScriptFlags(),
    ...(process.env.BENCH_CPU_PROF
      ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
      : (process.env.BENCH_NODE_ARGS?.split(' ') ?? [])),
  ];
  const dataDir = mkdtempSync(join(tmpdir(), 'hubx-bench-'));
  try {
    const server = await startApiProcess(
      {
        NODE_ENV: 'production',
        JWT_SECRET,
        DATA_DIR: dataDir,
        DATABASE_POOL_SIZE: '20',
        CHAT_SEND_RATE_LIMIT: '0',
        WS_FRAME_RATE_LIMIT: '0',
        // The spam check runs on every send (counters included) but never classifies bench traffic.
        CHAT_SPAM_MESSAGES_PER_MINUTE: '1000000',
        CHAT_SPAM_REPEAT_LIMIT: '1000000',
        CHAT_SPAM_LINK_LIMIT: '1000000',
        WS_MAX_CONNECTIONS_PER_USER: '10000',
        WS_MAX_BUFFERED_BYTES: String(16 * 1024 * 1024),
        ...env,
      },
      { prefix: ['taskset', '-c', '0'], nodeArgs: profile, echoLog: Boolean(process.env.BENCH_SERVER_LOG) },
    );
    return { ...server, dataDir };
  } catch (error) {
    // A server that never started is not in the caller's list, so its folder goes here.
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
}

type Setup = { channels: Array<{ id: string; members: Array<{ id: string; token: string }> }> };

/** Users, channels and participants straight into the database (setup is not what we measure). */
async function seed(db: pg.Client): Promise<Setup> {
  const key = new TextEncoder().encode(JWT_SECRET);
  const sign = (sub: string) =>
    new SignJWT({ token_type: 'access' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(sub)
      .setIssuer('hubx-chat')
      .setAudience('hubx-chat')
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(key);
  const channels: Setup['channels'] = [];
  for (let c = 0; c < scenario.channels; c++) {
    const channelId = uuidv7();
    const members: Array<{ id: string; token: string }> = [];
    for (let m = 0; m < scenario.membersPerChannel; m++) {
      const id = uuidv7();
      members.push({ id, token: await sign(id) });
    }
    const userValues = members.map((_, i) => `($${i * 2 + 1}, $${i * 2 + 2}, '', null)`).join(',');
    await db.query(
      `insert into users (id, username, email, password_hash) values ${userValues}`,
      members.flatMap((member, i) => [member.id, `b${c}_${i}_${member.id.slice(-6)}`]),
    );
    await db.query(
      `insert into chat_channels (id, contexto_tipo, titulo, created_by) values ($1, 'privado', $2, $3)`,
      [channelId, `bench ${c}`, members[0]!.id],
    );
    const participantValues = members
      .map((_, i) => `($${i * 2 + 1}, $${i * 2 + 2}, $${members.length * 2 + 1}, ${i === 0})`)
      .join(',');
    await db.query(
      `insert into chat_participants (id, user_id, channel_id, is_owner) values ${participantValues}`,
      [...members.flatMap((member) => [uuidv7(), member.id]), channelId],
    );
    channels.push({ id: channelId, members });
  }
  return { channels };
}

function readProc(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(stat[11]) + Number(stat[12]);
  return { rssKb, cpuSeconds: ticks / 100 };
}

/** CPU seconds used so far by each PostgreSQL process on this machine (backends, WAL writer, …). */
function postgresCpuSeconds(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      byPid.set(Number(entry), readProc(Number(entry)).cpuSeconds);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return byPid;
}

/**
 * CPU seconds the hypervisor gave to other guests while this VM's cores wanted to run ("steal",
 * /proc/stat), summed over the cores: on a busy machine it shows up as stalls of every process.
 */
function stealSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return Number(fields[8] ?? 0) / 100;
}

/** CPU PostgreSQL used between two readings (a process that ended in between is not counted). */
function postgresCpuSince(start: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of postgresCpuSeconds()) total += seconds - (start.get(pid) ?? 0);
  return total;
}

/** The node process behind `taskset` (taskset execs, so the pid is the same). */
const serverPid = (server: { child: ChildProcess }) => server.child.pid!;

async function withRetries<T>(open: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await open();
    } catch (error) {
      if (attempt >= 5) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * (attempt + 1)));
    }
  }
}

async function run(setup: Setup, servers: Array<{ child: ChildProcess; port: number }>) {
  const ackHistogram = buildHistogram();
  // The generator's own stalls are part of every latency it measures.
  const generatorLoop = monitorEventLoopDelay({ resolution: 5 });
  const before = servers.map((server) => readProc(serverPid(server)));
  const receivers: LeanSocket[] = [];
  let delivered = 0;
  let duplicated = 0;
  const closes = new Map<number, number>();
  let senderErrors = 0;
  let measureFrom = Infinity;
  let runStart = 0;
  // Latency by second of the scheduled send time (to show warm-up and stalls); histograms keep
  // the generator's own memory flat, so its GC does not show up as server latency.
  const perSecond: hdr.Histogram[] = [];

  // Connect in batches so the server's accept queue is not the bottleneck of setup.
  const connects: Array<() => Promise<void>> = [];
  // Each member has one socket; the senders among them send on it too (and read their acks).
  const memberSockets: LeanSocket[][] = [];
  setup.channels.forEach((channel, c) => {
    channel.members.forEach((member, m) => {
      const server = servers[m % servers.length]!;
      connects.push(async () => {
        // Parse only what is measured, straight from the bytes: a full JSON.parse of every frame
        // would make this single-core generator the bottleneck long before the server.
        let lastSeq = 0;
        const onText = (data: Buffer, now: number) => {
          if (!startsWith(data, MESSAGE_PREFIX)) {
            if (startsWith(data, ERROR_PREFIX)) senderErrors += 1;
            else if (startsWith(data, ACK_PREFIX)) {
              // The ack of send n: how long the write path took, without the fan-out.
              const scheduled = runStart + readNumber(data, ACK_PREFIX.length) * (1000 / scenario.rate);
              if (scheduled >= measureFrom)
                ackHistogram.recordValue(Math.max(1, Math.round(now - scheduled)));
            }
            return;
          }
          const seq = readNumber(data, MESSAGE_PREFIX.length);
          if (seq <= lastSeq) {
            duplicated += 1;
            return;
          }
          lastSeq = seq;
          delivered += 1;
          const scheduled = readNumber(
            data,
            data.indexOf(CONTENT_KEY, MESSAGE_PREFIX.length) + CONTENT_KEY.length,
          );
          // One histogram per second of scheduled send time; the timed seconds are summed at the end.
          (perSecond[Math.floor((scheduled - runStart) / 1000)] ??= buildHistogram()).recordValue(
            Math.max(1, Math.round(now - scheduled)),
          );
        };
        const socket = await withRetries(() =>
          openLeanSocket(`ws://127.0.0.1:${server.port}/ws/chat/${channel.id}/`, member.token, {
            onText: scenario.idleOnly ? undefined : onText,
            onClose: (code) => closes.set(code, (closes.get(code) ?? 0) + 1),
          }),
        );
        receivers.push(socket);
        (memberSockets[c] ??= [])[m] = socket;
      });
    });
  });
  const connectStarted = Date.now();
  // Idle: RSS is read half-way too, so the second half's growth shows the cost of one more
  // connection without the server's one-off growth (young generation, code, pools) in it.
  const half = scenario.idleOnly ? Math.floor(connects.length / 2 / 200) * 200 : -1;
  let halfway: { rssKb: number } | undefined;
  for (let i = 0; i < connects.length; i += 200) {
    if (i === half) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      halfway = readProc(serverPid(servers[0]!));
    }
    await Promise.all(connects.slice(i, i + 200).map((open) => open()));
  }
  const connectSeconds = (Date.now() - connectStarted) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const afterConnect = servers.map((server) => readProc(serverPid(server)));

  if (scenario.idleOnly) {
    await new Promise((resolve) => setTimeout(resolve, scenario.seconds * 1000));
    const settled = servers.map((server) => readProc(serverPid(server)));
    const connections = receivers.length;
    for (const socket of receivers) socket.terminate();
    return {
      connections,
      connectSeconds,
      serverRssBeforeMb: before[0]!.rssKb / 1024,
      serverRssAfterMb: settled[0]!.rssKb / 1024,
      bytesPerIdleConnection: Math.round(((settled[0]!.rssKb - before[0]!.rssKb) * 1024) / connections),
      serverRssHalfwayMb: halfway!.rssKb / 1024,
      bytesPerIdleConnectionSecondHalf: Math.round(
        ((settled[0]!.rssKb - halfway!.rssKb) * 1024) / (connections - half),
      ),
      machine: machine(),
    };
  }
  void afterConnect;

  // Senders: the first members of each channel (all of a 100-member channel), spread over nodes.
  const senders: Array<{ socket: LeanSocket; channel: number }> = [];
  for (const [c, channel] of setup.channels.entries()) {
    const count = Math.min(
      channel.members.length,
      Math.max(1, Math.ceil(SENDERS_PER_CHANNEL_MAX / setup.channels.length)),
    );
    for (let s = 0; s < count; s++) senders.push({ socket: memberSockets[c]![s]!, channel: c });
  }
  const sendersByChannel = setup.channels.map((_, c) => senders.filter((sender) => sender.channel === c));
  const total = Math.round(scenario.rate * (warmupSeconds + scenario.seconds));
  const start = performance.timeOrigin + performance.now() + 200;
  runStart = start;
  measureFrom = start + warmupSeconds * 1000;
  const interval = 1000 / scenario.rate;
  let sent = 0;
  let expected = 0;
  const cpuStart = servers.map((server) => readProc(serverPid(server)).cpuSeconds);
  const othersStart = {
    postgres: postgresCpuSeconds(),
    generator: process.cpuUsage(),
    steal: stealSeconds(),
  };
  let peakRssKb = 0;
  // Steal per second of the run, to line up with p99BySecond.
  const stealBySecond: number[] = [];
  let samples = 0;
  let lastSteal = othersStart.steal;
  generatorLoop.enable();
  const sampler = setInterval(() => {
    for (const server of servers) peakRssKb = Math.max(peakRssKb, readProc(serverPid(server)).rssKb);
    if (++samples % 4 === 0) {
      const steal = stealSeconds();
      stealBySecond.push(Math.round((steal - lastSteal) * 100));
      lastSteal = steal;
    }
  }, 250);
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.timeOrigin + performance.now();
      while (sent < total && start + sent * interval <= now) {
        const scheduled = start + sent * interval;
        const channelIndex = sent % setup.channels.length;
        const channelSenders = sendersByChannel[channelIndex]!;
        const sender = channelSenders[Math.floor(sent / setup.channels.length) % channelSenders.length]!;
        sender.socket.send(
          JSON.stringify({ tipo: 'text', conteudo: `${scheduled} bench`, client_id: `b${sent}` }),
        );
        expected += setup.channels[channelIndex]!.members.length;
        sent += 1;
      }
      if (sent >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(5, start + sent * interval - now)));
    };
    tick();
  });
  const sendEnd = performance.timeOrigin + performance.now();
  // Drain: wait until every delivery arrived or 10 s passed without progress.
  let lastDelivered = -1;
  let idleSince = Date.now();
  while (delivered < expected) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (delivered !== lastDelivered) {
      lastDelivered = delivered;
      idleSince = Date.now();
    } else if (Date.now() - idleSince > 10_000) break;
  }
  const drainEnd = performance.timeOrigin + performance.now();
  clearInterval(sampler);
  generatorLoop.disable();
  const cpuEnd = servers.map((server) => readProc(serverPid(server)).cpuSeconds);
  const postgresSeconds = postgresCpuSince(othersStart.postgres);
  const generatorUsage = process.cpuUsage(othersStart.generator);
  const stolen = stealSeconds() - othersStart.steal;
  for (const socket of receivers) socket.terminate();
  const elapsed = (drainEnd - start) / 1000;
  const histogram = buildHistogram();
  perSecond.forEach((second, index) => {
    if (index >= warmupSeconds) histogram.add(second);
  });
  return {
    messagesSent: sent,
    achievedSendRate: Math.round(sent / ((sendEnd - start) / 1000)),
    deliveriesExpected: expected,
    delivered,
    lost: expected - delivered,
    duplicated,
    senderErrors,
    receiverCloses: Object.fromEntries(closes),
    deliveriesPerSecond: Math.round(delivered / elapsed),
    latencyMs: {
      p50: histogram.getValueAtPercentile(50),
      p90: histogram.getValueAtPercentile(90),
      p99: histogram.getValueAtPercentile(99),
      max: histogram.maxValue,
    },
    // Scheduled send time to the sender's ack (after the warm-up): the write path alone.
    ackLatencyMs: {
      p50: ackHistogram.getValueAtPercentile(50),
      p99: ackHistogram.getValueAtPercentile(99),
      max: ackHistogram.maxValue,
    },
    // How late the generator's own event loop ran (ms): a stall here delays every receipt it times.
    generatorLoopDelayMs: {
      p50: Math.round(generatorLoop.percentile(50) / 1e6),
      p99: Math.round(generatorLoop.percentile(99) / 1e6),
      max: Math.round(generatorLoop.max / 1e6),
    },
    warmupSeconds,
    // Wall-clock start of the timed sends (second 0 of p99BySecond), to line up with other logs.
    sendsStartedAt: new Date(runStart).toISOString(),
    p99BySecond: [...perSecond].map((second) => second?.getValueAtPercentile(99) ?? 0),
    serverCpuPercent: servers.map((_, i) => Math.round(((cpuEnd[i]! - cpuStart[i]!) / elapsed) * 100)),
    // Of one core, over the run: the machine has two for all three.
    postgresCpuPercent: Math.round((postgresSeconds / elapsed) * 100),
    generatorCpuPercent: Math.round(((generatorUsage.user + generatorUsage.system) / 1e6 / elapsed) * 100),
    // Of one core too: CPU time the host took from this VM's two cores during the run.
    stealPercent: Math.round((stolen / elapsed) * 100),
    stealBySecond,
    serverPeakRssMb: Math.round(peakRssKb / 1024),
    connectSeconds,
    machine: machine(),
  };
}

/** A decimal number (digits, optionally a fraction) straight from the bytes at `at`. */
function readNumber(data: Buffer, at: number): number {
  let value = 0;
  let index = at;
  for (let byte = data[index]!; byte >= 48 && byte <= 57; byte = data[++index]!)
    value = value * 10 + byte - 48;
  if (data[index] !== 46) return value;
  let scale = 1;
  for (let byte = data[++index]!; byte >= 48 && byte <= 57; byte = data[++index]!) {
    scale /= 10;
    value += (byte - 48) * scale;
  }
  return value;
}

function buildHistogram() {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000,
    numberOfSignificantValueDigits: 3,
  });
}

function machine() {
  return `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

function record(report: Record<string, unknown>) {
  const line = `\n### ${report.scenario} — ${new Date().toISOString()}\n\nCommand: \`npm run bench -- ${process.argv.slice(2).join(' ')}\`\n\n\`\`\`json\n${JSON.stringify(report, null, 2)}\n\`\`\`\n`;
  appendFileSync(new URL('RESULTS.md', import.meta.url), line);
}

// Pin this generator to core 1; the server goes to core 0.
if (!process.env.BENCH_PINNED && cpus().length >= 2) {
  const child = spawn(
    'taskset',
    // A larger young generation: the generator allocates per received frame, and fewer, cheaper
    // scavenges keep its own pauses out of the measured latency.
    ['-c', '1', process.execPath, '--max-semi-space-size=64', ...process.execArgv, ...process.argv.slice(1)],
    {
      stdio: 'inherit',
      env: { ...process.env, BENCH_PINNED: '1' },
    },
  );
  child.on('exit', (code) => process.exit(code ?? 1));
} else {
  await main();
}
