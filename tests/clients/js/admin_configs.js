// kafkajs admin against pykafka-broker: configs (topic and broker), partitions, record deletion.
// Results are printed as one JSON line; tests/clients/test_admin_configs_clients.py asserts on them.
//
// usage: KAFKAJS_DIR=<dir with node_modules/kafkajs> node admin_configs.js HOST:PORT TOPIC
'use strict'

const path = require('path')
const { Kafka, logLevel, ConfigResourceTypes } = require(path.join(process.env.KAFKAJS_DIR, 'node_modules', 'kafkajs'))

const [broker, topic] = process.argv.slice(2)

// kafkajs logs to stdout by default; keep stdout for the JSON result only.
const toStderr = () => ({ namespace, label, log }) =>
  process.stderr.write(`[${label}] ${namespace}: ${log.message} ${JSON.stringify(log)}\n`)

// {name: {value, source, readOnly}} of one described resource
const entries = (described) => Object.fromEntries(described.resources[0].configEntries.map(
  e => [e.configName, { value: e.configValue, source: e.configSource, readOnly: e.readOnly }]))

async function main () {
  const kafka = new Kafka({
    clientId: 'pykafka-broker-admin-test',
    brokers: [broker],
    logLevel: logLevel.WARN,
    logCreator: toStderr,
    connectionTimeout: 10000,
    requestTimeout: 20000,
    retry: { retries: 2 }
  })
  const result = {}
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true })

    // AlterConfigs (legacy: replaces the topic's overrides) + DescribeConfigs
    await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic,
        configEntries: [{ name: 'retention.ms', value: '3600000' }, { name: 'cleanup.policy', value: 'compact,delete' }] }]
    })
    const topicConfigs = entries(await admin.describeConfigs({
      includeSynonyms: true,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy', 'segment.bytes'] }]
    }))
    result.topicConfigs = topicConfigs

    // a bad value is refused with the broker's error
    try {
      await admin.alterConfigs({
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'segment.bytes', value: '10' }] }]
      })
      result.badValueError = null
    } catch (e) {
      result.badValueError = e.type || e.name
    }

    // dynamic broker config through AlterConfigs on the BROKER resource "1"
    await admin.alterConfigs({
      resources: [{ type: ConfigResourceTypes.BROKER, name: '1', configEntries: [{ name: 'log.retention.bytes', value: '987654321' }] }]
    })
    result.brokerConfigs = entries(await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.BROKER, name: '1', configNames: ['log.retention.bytes', 'num.partitions'] }]
    }))

    // CreatePartitions
    await admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] })
    const meta = await admin.fetchTopicMetadata({ topics: [topic] })
    result.partitions = meta.topics[0].partitions.length

    // DeleteRecords
    const producer = kafka.producer({ allowAutoTopicCreation: false })
    await producer.connect()
    await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })) })
    await producer.disconnect()
    await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] })
    const offsets = await admin.fetchTopicOffsets(topic)
    result.offsets = offsets.map(o => ({ partition: o.partition, low: Number(o.low), high: Number(o.high) }))
      .sort((a, b) => a.partition - b.partition)
  } finally {
    await admin.disconnect()
  }
  process.stdout.write(JSON.stringify(result) + '\n')
}

main().catch(e => {
  process.stderr.write(`${e.stack || e}\n`)
  process.exit(1)
})
