// Issue 12: two kafkajs consumers started one after the other must end in one generation whose
// assignments are disjoint and cover every partition. Results are printed as one JSON line.
//
// usage: KAFKAJS_DIR=<dir with node_modules/kafkajs> node group_rejoin.js HOST:PORT TOPIC
//
// 30 records are produced to a 3-partition topic first; consumer a subscribes (fromBeginning) and
// runs, then consumer b does the same. kafkajs's GROUP_JOIN event carries no generation id, so the
// generation of each member's last assignment is taken from its "Received assignment" debug log,
// which kafkajs writes just before that event. The script waits (with a deadline) until both members'
// last assignments are of the same generation, disjoint, cover every partition, and every record has
// been consumed; it prints what it saw either way and the Python test judges.
'use strict'

const path = require('path')
const { Kafka, logLevel } = require(path.join(process.env.KAFKAJS_DIR, 'node_modules', 'kafkajs'))

const [broker, topic] = process.argv.slice(2)
const GROUP = `${topic}-group`
const PARTITIONS = 3
const N = 30
const DEADLINE_MS = 30000

async function waitFor (predicate, ms) {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return true
}

async function main () {
  const t0 = Date.now()
  const result = { joins: [], consumed: [], trace: [], settled: false }
  const last = {} // member name -> its latest GROUP_JOIN: { generation, partitions }
  const generationOf = {} // member name -> generation of its latest "Received assignment"

  // One logger per client: it records the group protocol steps (with generation ids) of consumers
  // and forwards warnings and errors to stderr.
  const logCreatorFor = (name) => () => ({ namespace, level, log }) => {
    const { message, generationId, memberId } = log
    if (namespace === 'ConsumerGroup' && message === 'Received assignment') generationOf[name] = generationId
    if (namespace === 'ConsumerGroup' || namespace === 'Runner') {
      if (result.trace.length < 400) {
        result.trace.push({ t: Date.now() - t0, name, message, generationId, memberId, error: log.error })
      }
    }
    if (level <= logLevel.WARN) process.stderr.write(`[${name}] ${namespace}: ${message} ${JSON.stringify(log)}\n`)
  }
  const kafkaFor = (name, level) => new Kafka({ clientId: `kafkajs-rejoin-${name}`, brokers: [broker], logLevel: level, logCreator: logCreatorFor(name) })

  const kafka = kafkaFor('admin', logLevel.WARN)
  const admin = kafka.admin()
  await admin.connect()
  const consumers = []
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true })
    const producer = kafka.producer()
    await producer.connect()
    const messages = []
    for (let i = 0; i < N; i++) messages.push({ value: `r-${i}`, partition: i % PARTITIONS })
    await producer.send({ topic, messages })
    await producer.disconnect()

    for (const name of ['a', 'b']) {
      const consumer = kafkaFor(name, logLevel.DEBUG).consumer({ groupId: GROUP, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 10000 })
      consumer.on(consumer.events.GROUP_JOIN, e => {
        const partitions = (e.payload.memberAssignment[topic] || []).slice().sort((x, y) => x - y)
        last[name] = { generation: generationOf[name], partitions }
        result.joins.push({ t: Date.now() - t0, name, generation: generationOf[name], memberId: e.payload.memberId, partitions })
      })
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          const owned = last[name] ? last[name].partitions : []
          result.consumed.push({ name, partition, value: message.value.toString(), generation: last[name] && last[name].generation, owned: owned.includes(partition) })
        }
      })
      consumers.push(consumer)
    }

    const settled = () => {
      const a = last.a
      const b = last.b
      if (!a || !b || a.generation !== b.generation) return false
      const all = a.partitions.concat(b.partitions)
      return all.length === PARTITIONS && new Set(all).size === PARTITIONS &&
        new Set(result.consumed.map(c => c.value)).size === N
    }
    result.settled = await waitFor(settled, DEADLINE_MS)
    result.settledAfterMs = Date.now() - t0
    result.last = JSON.parse(JSON.stringify(last))
    // Disconnecting makes the other member rejoin alone (kafkajs emits GROUP_JOIN for that too): only
    // the joins seen so far count.
    result.joinsBeforeStop = result.joins.length
  } finally {
    for (const consumer of consumers) await consumer.disconnect()
    await admin.disconnect()
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch(err => {
  process.stderr.write(`kafkajs group_rejoin failed: ${err && err.stack ? err.stack : err}\n`)
  process.stdout.write(JSON.stringify({ error: String(err && err.message ? err.message : err), type: err && err.name }) + '\n')
  process.exit(1)
})
