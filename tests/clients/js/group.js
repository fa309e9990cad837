// kafkajs consumer group against pykafka-broker, results printed as one JSON line.
//
// usage: KAFKAJS_DIR=<dir with node_modules/kafkajs> node group.js HOST:PORT TOPIC
//
// Two consumers in one group share a 6-partition topic and read a first batch; one disconnects (leaves
// the group) and the other takes over its partitions and reads a second batch; then the admin client
// lists, describes and deletes the group and fetches its committed offsets.
'use strict'

const path = require('path')
const { Kafka, logLevel } = require(path.join(process.env.KAFKAJS_DIR, 'node_modules', 'kafkajs'))

const [broker, topic] = process.argv.slice(2)
const GROUP = 'kafkajs-group'
const PARTITIONS = 6
const N = 60
const DEADLINE_MS = 30000

const toStderr = () => ({ namespace, label, log }) =>
  process.stderr.write(`[${label}] ${namespace}: ${log.message} ${JSON.stringify(log)}\n`)

async function waitFor (predicate, what) {
  const deadline = Date.now() + DEADLINE_MS
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

async function main () {
  const kafka = new Kafka({ clientId: 'kafkajs-group-test', brokers: [broker], logLevel: logLevel.WARN, logCreator: toStderr })
  const admin = kafka.admin()
  await admin.connect()
  const result = { seen: [], assignments: {}, timings: {} }
  const t0 = Date.now()
  const mark = (name) => { result.timings[name] = Date.now() - t0 }
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true })
    const producer = kafka.producer()
    await producer.connect()
    const send = async (tag) => {
      const messages = []
      for (let i = 0; i < N; i++) messages.push({ value: `${tag}-${i}`, partition: i % PARTITIONS })
      await producer.send({ topic, messages })
    }

    const consumers = {}
    for (const name of ['a', 'b']) {
      // kafkajs heartbeats between fetches: a short fetch wait lets it notice rebalances quickly.
      const consumer = kafka.consumer({ groupId: GROUP, sessionTimeout: 6000, heartbeatInterval: 500, rebalanceTimeout: 10000, maxWaitTimeInMs: 250 })
      consumer.on(consumer.events.GROUP_JOIN, e => {
        result.assignments[name] = (e.payload.memberAssignment[topic] || []).slice().sort((x, y) => x - y)
      })
      await consumer.connect()
      await consumer.subscribe({ topics: [topic], fromBeginning: true })
      await consumer.run({ eachMessage: async ({ message }) => { result.seen.push(message.value.toString()) } })
      consumers[name] = consumer
    }
    const covered = () => {
      const all = Object.values(result.assignments).flat()
      return Object.keys(result.assignments).length === 2 && all.length === PARTITIONS && new Set(all).size === PARTITIONS
    }
    await waitFor(covered, 'both members to share the partitions')
    mark('shared')
    result.shared = JSON.parse(JSON.stringify(result.assignments))
    await send('first')
    await waitFor(() => result.seen.length >= N, 'the first batch')

    mark('firstRead')
    await consumers.b.disconnect() // leaves the group
    delete result.assignments.b
    await waitFor(() => (result.assignments.a || []).length === PARTITIONS, 'a to take over every partition')
    mark('takenOver')
    await send('second')
    await waitFor(() => result.seen.length >= 2 * N, 'the second batch')

    mark('secondRead')
    result.listed = (await admin.listGroups()).groups.filter(g => g.groupId === GROUP)
    const described = await admin.describeGroups([GROUP])
    result.described = described.groups.map(g => ({ groupId: g.groupId, state: g.state, protocol: g.protocol, members: g.members.length }))
    await consumers.a.disconnect()
    await producer.disconnect()
    const offsets = await admin.fetchOffsets({ groupId: GROUP, topics: [topic] })
    result.offsets = offsets[0].partitions.map(p => ({ partition: p.partition, offset: Number(p.offset) })).sort((x, y) => x.partition - y.partition)
    mark('beforeDelete')
    await admin.deleteGroups([GROUP])
    result.listedAfterDelete = (await admin.listGroups()).groups.some(g => g.groupId === GROUP)
  } finally {
    await admin.disconnect()
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch(err => {
  process.stderr.write(`kafkajs group failed: ${err && err.stack ? err.stack : err}\n`)
  process.stdout.write(JSON.stringify({ error: String(err && err.message ? err.message : err), type: err && err.name }) + '\n')
  process.exit(1)
})
