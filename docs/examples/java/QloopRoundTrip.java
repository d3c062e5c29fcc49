// A qloop producer and consumer in Java, with no qloop code: register an OpenQASM 3 template,
// send parameter updates, read their results back.
//
// Usage: java -cp 'libs/*' QloopRoundTrip.java BOOTSTRAP TOPIC_PREFIX SCHEMA_DIR N
// Prints one JSON line per result, then {"done": N}; exits 1 if a result is missing.

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

public class QloopRoundTrip {
  // Parameters are the `input float[64]` declarations, in declaration order.
  static final String QASM = String.join("\n",
      "OPENQASM 3.0;",
      "include \"stdgates.inc\";",
      "input float[64] a;",
      "input float[64] b;",
      "bit[2] c;",
      "qubit[2] q;",
      "ry(a) q[0];",
      "ry(b) q[1];",
      "cx q[0], q[1];",
      "c[0] = measure q[0];",
      "c[1] = measure q[1];",
      "");
  static final int SHOTS = 1000;

  static Schema schema(Path dir, String file) throws Exception {
    return new Schema.Parser().parse(dir.resolve(file).toFile());
  }

  static byte[] encode(Schema schema, GenericRecord record) throws Exception {
    // Single-object encoding: C3 01, the schema's CRC-64-AVRO fingerprint, the body.
    ByteBuffer buffer = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), schema).encode(record);
    byte[] bytes = new byte[buffer.remaining()];
    buffer.get(bytes);
    return bytes;
  }

  static long micros(Instant t) {
    return ChronoUnit.MICROS.between(Instant.EPOCH, t);
  }

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    String prefix = args[1];
    Path dir = Path.of(args[2]);
    int n = Integer.parseInt(args[3]);
    Schema templateSchema = schema(dir, "circuit_template.avsc");
    Schema updateSchema = schema(dir, "parameter_update.avsc");
    Schema resultSchema = schema(dir, "job_result.avsc");

    // The template id: sha256 of the UTF-8 bytes of the qasm3 text as sent.
    byte[] digest = MessageDigest.getInstance("SHA-256").digest(QASM.getBytes(StandardCharsets.UTF_8));
    String templateId = "sha256:" + HexFormat.of().formatHex(digest);
    GenericRecord template = new GenericData.Record(templateSchema);
    template.put("template_id", templateId);
    template.put("name", "java-ry-cx");
    template.put("qasm3", QASM);
    template.put("qpy", ByteBuffer.allocate(0)); // optional: empty
    template.put("parameter_names", List.of("a", "b"));
    template.put("num_qubits", 2);
    template.put("topology_key", ""); // qloop computes it
    template.put("observables", null);
    template.put("created_at", micros(Instant.now()));

    Properties producerProps = new Properties();
    producerProps.put("bootstrap.servers", bootstrap);
    producerProps.put("acks", "all");
    producerProps.put("enable.idempotence", "true");
    producerProps.put("key.serializer", "org.apache.kafka.common.serialization.StringSerializer");
    producerProps.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");

    Map<String, List<Double>> sent = new HashMap<>();
    try (KafkaProducer<String, byte[]> producer = new KafkaProducer<>(producerProps)) {
      producer.send(new ProducerRecord<>(prefix + "circuit-templates", templateId, encode(templateSchema, template))).get();
      Schema primitive = updateSchema.getField("primitive").schema();
      for (int i = 0; i < n; i++) {
        String eventId = "java-" + UUID.randomUUID();
        List<Double> parameters = List.of(0.1 + 0.3 * i, Math.PI / 3 - 0.05 * i);
        GenericRecord update = new GenericData.Record(updateSchema);
        update.put("event_id", eventId);
        update.put("experiment_id", "java-example");
        update.put("iteration", (long) i);
        update.put("tenant", "java-team");
        update.put("template_id", templateId);
        update.put("parameters", parameters);
        update.put("primitive", new GenericData.EnumSymbol(primitive, "SAMPLER"));
        update.put("shots", SHOTS);
        update.put("precision", null);
        update.put("backend", "aer_simulator");
        update.put("priority", 0);
        update.put("deadline", null);
        update.put("seed", 7L);
        update.put("produced_at", micros(Instant.now()));
        update.put("labels", Map.of());
        update.put("trace_context", Map.of());
        producer.send(new ProducerRecord<>(prefix + "parameter-updates", templateId, encode(updateSchema, update)));
        sent.put(eventId, parameters);
      }
      producer.flush();
    }

    Properties consumerProps = new Properties();
    consumerProps.put("bootstrap.servers", bootstrap);
    consumerProps.put("group.id", "java-example-" + UUID.randomUUID());
    consumerProps.put("auto.offset.reset", "earliest");
    consumerProps.put("key.deserializer", "org.apache.kafka.common.serialization.StringDeserializer");
    consumerProps.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), resultSchema);
    Map<String, Boolean> seen = new HashMap<>();
    Instant deadline = Instant.now().plusSeconds(180);
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(consumerProps)) {
      consumer.subscribe(List.of(prefix + "job-results"));
      while (seen.size() < n && Instant.now().isBefore(deadline)) {
        for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
          if (!sent.containsKey(record.key())) {
            continue; // another producer's result
          }
          GenericRecord result = decoder.decode(record.value());
          List<Double> parameters = new ArrayList<>();
          for (Object value : (List<?>) result.get("parameters")) {
            parameters.add((Double) value);
          }
          long total = 0;
          Object counts = result.get("counts");
          if (counts != null) {
            for (Object count : ((Map<?, ?>) counts).values()) {
              total += (Long) count;
            }
          }
          boolean exact = parameters.equals(sent.get(record.key()));
          seen.put(record.key(), exact);
          System.out.printf("{\"event_id\": \"%s\", \"status\": \"%s\", \"shots\": %d, \"exact_parameters\": %b, \"topology_key\": \"%s\"}%n",
              record.key(), result.get("status"), total, exact, result.get("topology_key"));
        }
      }
    }
    System.out.printf("{\"done\": %d}%n", seen.size());
    System.exit(seen.size() == n ? 0 : 1);
  }
}
