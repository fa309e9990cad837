// kafkajs consumer reading a partition whose Fetch answers end in a cut batch (maxBytesPerPartition
// between one and two batches, or below one). Prints one JSON line: [[offset, value prefix], ...].
//
// usage: KAFKAJS_DIR=<dir with node_modules/kafkajs> node partial.js HOST:PORT TOPIC COUNT MAX_BYTES
'use strict'

const path = require('path')
const { Kafka, logLevel } = require(path.join(process.env.KAFKAJS_DIR, 'node_modules', 'kafkajs'))

const [broker, topic, countArg, maxBytesArg] = process.argv.slice(2)
const count = Number(countArg)

const toStderr = () => ({ namespace, label, log }) =>
  process.stderr.write(`[${label}] ${namespace}: ${log.message} ${JSON.stringify(log)}\n`)

async function main () {
  const kafka = new Kafka({ clientId: 'partial-test', brokers: [broker], logLevel: logLevel.WARN,
    logCreator: toStderr, connectionTimeout: 10000, requestTimeout: 20000, retry: { retries: 2 } })
  const consumer = kafka.consumer({ groupId: `partial-${maxBytesArg}`, maxBytesPerPartition: Number(maxBytesArg),
    maxWaitTimeInMs: 100 })
  const got = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${count} records`)), 60000)
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ message }) => {
          got.push([Number(message.offset), message.value.subarray(0, 5).toString()])
          if (got.length >= count) { clearTimeout(timer); resolve() }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  process.stdout.write(JSON.stringify(got) + '\n')
}

main().catch(err => { process.stderr.write(`${err.stack}\n`); process.exit(1) })
