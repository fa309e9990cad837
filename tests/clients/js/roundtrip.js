// kafkajs against pykafka-broker: admin + idempotent produce, results printed as one JSON line.
//
// usage: KAFKAJS_DIR=<dir with node_modules/kafkajs> node roundtrip.js HOST:PORT TOPIC
//
// The produced records are checked through ListOffsets (fetchTopicOffsets); group.js reads with a
// kafkajs consumer group.
'use strict'

const path = require('path')
const { Kafka, logLevel, CompressionTypes, Partitioners } = require(path.join(process.env.KAFKAJS_DIR, 'node_modules', 'kafkajs'))

const [broker, topic] = process.argv.slice(2)
const N = 200
const BATCH = 50

// kafkajs logs to stdout by default; keep stdout for the JSON result only.
const toStderr = () => ({ namespace, label, log }) =>
  process.stderr.write(`[${label}] ${namespace}: ${log.message} ${JSON.stringify(log)}\n`)

async function main () {
  const kafka = new Kafka({
    clientId: 'pykafka-broker-test',
    brokers: [broker],
    logLevel: logLevel.WARN,
    logCreator: toStderr,
    connectionTimeout: 10000,
    requestTimeout: 20000
  })
  const result = {}
  const admin = kafka.admin()
  await admin.connect()
  try {
    result.created = await admin.createTopics({
      topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
      waitForLeaders: true
    })
    // kafkajs swallows TOPIC_ALREADY_EXISTS and answers false.
    result.createdAgain = await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] })

    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner
    })
    await producer.connect()
    result.sends = []
    try {
      for (let start = 0; start < N; start += BATCH) {
        const messages = []
        for (let i = start; i < start + BATCH; i++) {
          messages.push({ key: `key-${i % 37}`, value: `kafkajs-${i}`, headers: { idx: String(i), tag: 'kafkajs' } })
        }
        // The last batch goes gzip-compressed (kafkajs' only built-in codec).
        const compression = start + BATCH >= N ? CompressionTypes.GZIP : CompressionTypes.None
        const metas = await producer.send({ topic, acks: -1, messages, compression })
        result.sends.push(metas.map(m => ({ partition: m.partition, errorCode: m.errorCode, baseOffset: Number(m.baseOffset) })))
      }
    } finally {
      await producer.disconnect()
    }

    const offsets = await admin.fetchTopicOffsets(topic)
    result.offsets = offsets
      .map(o => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition)
    result.highWatermarkTotal = result.offsets.reduce((sum, o) => sum + o.high, 0)
    result.listedBeforeDelete = (await admin.listTopics()).includes(topic)
    await admin.deleteTopics({ topics: [topic], timeout: 10000 })
    result.listedAfterDelete = (await admin.listTopics()).includes(topic)
  } finally {
    await admin.disconnect()
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch(err => {
  process.stderr.write(`kafkajs roundtrip failed: ${err && err.stack ? err.stack : err}\n`)
  process.stdout.write(JSON.stringify({ error: String(err && err.message ? err.message : err), type: err && err.name }) + '\n')
  process.exit(1)
})
