// kafkajs transactions against pykafka-broker; results printed as one JSON line.
//
// usage: KAFKAJS_DIR=<dir with node_modules/kafkajs> node txn.js HOST:PORT TOPIC
//
// One committed and one aborted transaction across 3 partitions (the committed one also commits a
// group offset with sendOffsets), then read_committed and read_uncommitted consumers read everything.
'use strict'

const path = require('path')
const { Kafka, logLevel } = require(path.join(process.env.KAFKAJS_DIR, 'node_modules', 'kafkajs'))

const [broker, topic] = process.argv.slice(2)
const N = 12

const toStderr = () => ({ namespace, label, log }) =>
  process.stderr.write(`[${label}] ${namespace}: ${log.message} ${JSON.stringify(log)}\n`)

async function readAll (kafka, readUncommitted, expected) {
  const consumer = kafka.consumer({ groupId: `txn-reader-${readUncommitted}-${Date.now()}`, readUncommitted,
    maxWaitTimeInMs: 200 })
  const values = []
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let idle
  const done = new Promise(resolve => {
    const settle = () => { clearTimeout(idle); idle = setTimeout(resolve, 1500) }
    settle()
    consumer.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()); if (values.length >= expected) settle() } })
  })
  let timer
  const deadline = new Promise(resolve => { timer = setTimeout(resolve, 20000) })
  await Promise.race([done, deadline])
  clearTimeout(timer)
  clearTimeout(idle)
  await consumer.disconnect()
  return values.sort()
}

async function main () {
  const kafka = new Kafka({ clientId: 'pykafka-txn-test', brokers: [broker], logLevel: logLevel.WARN,
    logCreator: toStderr, connectionTimeout: 10000, requestTimeout: 20000 })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })

  const producer = kafka.producer({ transactionalId: 'kafkajs-txn', maxInFlightRequests: 1, idempotent: true })
  await producer.connect()
  const messages = prefix => Array.from({ length: N }, (_, i) => ({ value: `${prefix}-${i}`, partition: i % 3 }))

  let txn = await producer.transaction()
  await txn.send({ topic, messages: messages('committed') })
  await txn.sendOffsets({ consumerGroupId: 'kafkajs-txn-group',
    topics: [{ topic, partitions: [{ partition: 0, offset: '3' }] }] })
  await txn.commit()

  txn = await producer.transaction()
  await txn.send({ topic, messages: messages('aborted') })
  await txn.abort()
  await producer.disconnect()

  const result = {}
  result.committed = await readAll(kafka, false, N)
  result.everything = await readAll(kafka, true, 2 * N)
  const offsets = await admin.fetchOffsets({ groupId: 'kafkajs-txn-group', topics: [topic] })
  result.groupOffsets = offsets[0].partitions.map(p => ({ partition: p.partition, offset: p.offset }))
  await admin.disconnect()
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch(err => { process.stderr.write(`${err.stack || err}\n`); process.exit(1) })
