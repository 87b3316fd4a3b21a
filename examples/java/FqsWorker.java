/*
 * FqsWorker.java -- an fqs worker in Java 17 (JDBC, the PostgreSQL driver).
 *
 *   java -cp /usr/share/java/postgresql.jar FqsWorker.java --stage concurrent QUEUE [options]
 *   java -cp /usr/share/java/postgresql.jar FqsWorker.java --stage sequential QUEUE [options]
 *
 * (or compile once: javac -cp /usr/share/java/postgresql.jar -d out FqsWorker.java,
 * then java -cp out:/usr/share/java/postgresql.jar FqsWorker ...).  Debian:
 * default-jdk-headless and libpostgresql-jdbc-java; it needs nothing but the
 * JDK and the driver.
 *
 * Options: --dsn CONNINFO (else the PG* environment), --batch N (10),
 * --lease S (2), --wait S (1), --retry-after S (0.2), --slow S (3),
 * --sink TABLE (example_sink).
 *
 * The same worker as examples/python/fqs_worker.py: the concurrent stage
 * claims batches with a server-side wait, acknowledges each batch with one
 * array fqs_commit (one by one if a lease was lost), hands failures back with
 * fqs_fail, and keeps the batch's leases alive from a heartbeat thread on a
 * connection of its own; the sequential stage claims runs per key and inserts
 * each run into the sink and completes it in one transaction.  SIGTERM or
 * SIGINT: finish what is held, exit 0.  Values always travel as parameters;
 * the sink's name is quoted by the driver's escapeIdentifier.
 *
 * --dsn is a libpq key=value string like the other workers take (host, port,
 * dbname, user, password, hostaddr, sslmode, application_name,
 * connect_timeout, options), or a jdbc:postgresql: URL used as it is.  The
 * JDBC driver speaks TCP only: a host that is a Unix-socket directory (or no
 * host at all, where libpq would use its default socket) becomes 127.0.0.1
 * with the same port, so the server must listen there, as a default
 * PostgreSQL does (listen_addresses = 'localhost').
 */

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.postgresql.PGConnection;

public final class FqsWorker {

	/** A commit, complete, fail or extend with a receipt that no longer holds. */
	private static final String LEASE_LOST = "55000";

	private static volatile boolean stop;
	/** Counted down when the stage has returned: what it held is acknowledged. */
	private static final CountDownLatch finished = new CountDownLatch(1);
	private static volatile int exitStatus = 1;

	private FqsWorker() {
	}

	public static void main(String[] args) {
		Options opts = Options.parse(args);
		/*
		 * SIGTERM and SIGINT start the JVM's shutdown, which runs this hook while
		 * the main thread goes on: the hook asks the stage to stop, waits until
		 * the batch in hand is acknowledged, and ends the JVM with the stage's
		 * status (a JVM that a signal stopped would otherwise exit 143).
		 */
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			stop = true;
			try {
				finished.await();
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
			Runtime.getRuntime().halt(exitStatus);
		}, "fqs-shutdown"));

		int status = 1;
		try {
			if (opts.stage().equals("concurrent")) {
				try (var stage = new ConcurrentStage(opts)) {
					stage.run();
				}
			} else {
				try (var stage = new SequentialStage(opts)) {
					stage.run();
				}
			}
			status = 0;
		} catch (SQLException e) {
			System.err.println("fqs_worker: SQLSTATE " + e.getSQLState() + ": " + e.getMessage());
		} catch (InterruptedException e) {
			System.err.println("fqs_worker: interrupted");
		} finally {
			exitStatus = status;
			finished.countDown();
		}
		if (status != 0) {
			System.exit(status);
		}
	}

	/** The command line: the same as the Python, C and Node.js workers'. */
	record Options(String queue, String stage, Target target, int batch, double lease,
			double waitS, double retryAfter, double slow, String sink) {

		static Options parse(String[] args) {
			String queue = null;
			String stage = null;
			String dsn = "";
			int batch = 10;
			double lease = 2.0;
			double waitS = 1.0;
			double retryAfter = 0.2;
			double slow = 3.0;
			String sink = "example_sink";
			try {
				for (int i = 0; i < args.length; i++) {
					String a = args[i];
					if (!a.startsWith("-")) {
						queue = a;
						continue;
					}
					if (i + 1 >= args.length) {
						usage();
					}
					String v = args[++i];
					switch (a) {
						case "--stage" -> stage = v;
						case "--dsn" -> dsn = v;
						case "--batch" -> batch = Integer.parseInt(v);
						case "--lease" -> lease = Double.parseDouble(v);
						case "--wait" -> waitS = Double.parseDouble(v);
						case "--retry-after" -> retryAfter = Double.parseDouble(v);
						case "--slow" -> slow = Double.parseDouble(v);
						case "--sink" -> sink = v;
						default -> usage();
					}
				}
			} catch (NumberFormatException e) {
				usage();
			}
			if (queue == null || stage == null || batch < 1 || !(lease > 0)
					|| !(stage.equals("concurrent") || stage.equals("sequential"))) {
				usage();
			}
			Target target;
			try {
				target = Target.of(dsn);
			} catch (IllegalArgumentException e) {
				System.err.println("fqs_worker: --dsn: " + e.getMessage());
				System.exit(2);
				return null;
			}
			return new Options(queue, stage, target, batch, lease, waitS, retryAfter, slow, sink);
		}

		private static void usage() {
			System.err.println("usage: FqsWorker --stage concurrent|sequential QUEUE "
					+ "[--dsn CONNINFO] [--batch N] [--lease S] [--wait S] "
					+ "[--retry-after S] [--slow S] [--sink TABLE]");
			System.exit(2);
		}
	}

	/** Where to connect: a JDBC URL and its properties, made from --dsn. */
	record Target(String url, Properties props, String socketDir) {

		/** libpq keywords understood here, each with its environment variable. */
		private static final Map<String, String> KEYWORDS = Map.of(
				"host", "PGHOST", "hostaddr", "PGHOSTADDR", "port", "PGPORT",
				"dbname", "PGDATABASE", "user", "PGUSER", "password", "PGPASSWORD",
				"sslmode", "PGSSLMODE", "application_name", "PGAPPNAME",
				"connect_timeout", "PGCONNECT_TIMEOUT", "options", "PGOPTIONS");

		static Target of(String dsn) {
			var props = new Properties();
			// exception messages (printed, and stored by fqs_fail) without the
			// server's DETAIL lines, which may quote the rows' data
			props.setProperty("logServerErrorDetail", "false");
			if (dsn.startsWith("jdbc:")) {
				return new Target(dsn, props, null);
			}
			Map<String, String> kv = new HashMap<>();
			KEYWORDS.forEach((k, env) -> {
				String v = System.getenv(env);
				if (v != null && !v.isEmpty()) {
					kv.put(k, v);
				}
			});
			kv.putAll(parseConninfo(dsn));

			String host = kv.getOrDefault("hostaddr", kv.getOrDefault("host", ""));
			String socketDir = null;
			if (host.isEmpty() || host.startsWith("/") || host.startsWith("@")) {
				socketDir = host.isEmpty() ? "(the default socket)" : host;
				host = "127.0.0.1";
			}
			String port = kv.getOrDefault("port", "5432");
			try {
				Integer.parseInt(port);
			} catch (NumberFormatException e) {
				throw new IllegalArgumentException("invalid port \"" + port + "\"");
			}
			String user = kv.getOrDefault("user", System.getProperty("user.name"));
			String dbname = kv.getOrDefault("dbname", user);
			String url = "jdbc:postgresql://" + (host.contains(":") ? "[" + host + "]" : host)
					+ ":" + port + "/" + URLEncoder.encode(dbname, StandardCharsets.UTF_8);

			props.setProperty("user", user);
			Map.of("password", "password", "sslmode", "sslmode",
					"application_name", "ApplicationName", "connect_timeout", "connectTimeout",
					"options", "options").forEach((k, prop) -> {
						if (kv.containsKey(k)) {
							props.setProperty(prop, kv.get(k));
						}
					});
			return new Target(url, props, socketDir);
		}

		/** keyword = value pairs, values bare or in single quotes, \ escapes. */
		static Map<String, String> parseConninfo(String s) {
			Map<String, String> kv = new HashMap<>();
			int i = 0;
			int n = s.length();
			while (true) {
				while (i < n && Character.isWhitespace(s.charAt(i))) {
					i++;
				}
				if (i >= n) {
					return kv;
				}
				int start = i;
				while (i < n && s.charAt(i) != '=' && !Character.isWhitespace(s.charAt(i))) {
					i++;
				}
				String key = s.substring(start, i);
				while (i < n && Character.isWhitespace(s.charAt(i))) {
					i++;
				}
				if (i >= n || s.charAt(i) != '=') {
					throw new IllegalArgumentException("missing \"=\" after \"" + key + "\"");
				}
				i++;
				while (i < n && Character.isWhitespace(s.charAt(i))) {
					i++;
				}
				var value = new StringBuilder();
				boolean quoted = i < n && s.charAt(i) == '\'';
				if (quoted) {
					i++;
				}
				while (true) {
					if (i >= n) {
						if (quoted) {
							throw new IllegalArgumentException("unterminated quoted value");
						}
						break;
					}
					char c = s.charAt(i++);
					if (c == '\\' && i < n) {
						value.append(s.charAt(i++));
					} else if (quoted ? c == '\'' : Character.isWhitespace(c)) {
						break;
					} else {
						value.append(c);
					}
				}
				if (!KEYWORDS.containsKey(key)) {
					throw new IllegalArgumentException("invalid connection option \"" + key + "\"");
				}
				kv.put(key, value.toString());
			}
		}

		Connection connect() throws SQLException {
			try {
				return DriverManager.getConnection(url, props);
			} catch (SQLException e) {
				if (socketDir == null) {
					throw e;
				}
				throw new SQLException(e.getMessage() + " (JDBC connects over TCP only: host "
						+ socketDir + " was taken as 127.0.0.1, where the server must listen)",
						e.getSQLState(), e);
			}
		}
	}

	/** One claimed message of the concurrent stage. */
	record Claimed(long id, long receipt, String payload, int attempt) {
	}

	/** One claimed message of the sequential stage; payload is the stage-one result. */
	record Processed(long id, long receipt, String fifoKey, long seq, String payload) {
	}

	/** The stand-in translation cannot translate a message (this attempt). */
	static final class TranslationFailed extends Exception {
		private static final long serialVersionUID = 1L;

		TranslationFailed(String message) {
			super(message);
		}
	}

	/**
	 * The stand-in translation: upper-cases the payload; "fail-once" fails on
	 * the first attempt, "slow" takes --slow seconds (longer than the lease).
	 */
	static String translate(String payload, int attempt, double slowS)
			throws TranslationFailed, InterruptedException {
		if (payload.contains("fail-once") && attempt == 1) {
			throw new TranslationFailed("translation failed on the first attempt");
		}
		if (payload.contains("slow")) {
			Thread.sleep((long) (slowS * 1000));
		}
		return "{\"translated\": " + jsonString(payload.toUpperCase(Locale.ROOT)) + "}";
	}

	static String jsonString(String s) {
		var b = new StringBuilder("\"");
		for (int i = 0; i < s.length(); i++) {
			char c = s.charAt(i);
			switch (c) {
				case '"' -> b.append("\\\"");
				case '\\' -> b.append("\\\\");
				default -> {
					if (c < 0x20) {
						b.append(String.format("\\u%04x", (int) c));
					} else {
						b.append(c);
					}
				}
			}
		}
		return b.append('"').toString();
	}

	/** Hand a message back with fqs_fail: retried after --retry-after. */
	static void fail(PreparedStatement failStmt, long id, long receipt, String why, double retryAfter)
			throws SQLException {
		failStmt.setLong(1, id);
		failStmt.setLong(2, receipt);
		failStmt.setString(3, why);
		failStmt.setDouble(4, retryAfter);
		failStmt.execute();
	}

	private static final String FAIL_SQL = "SELECT fqs_fail(?::bigint, ?::bigint, ?::text, "
			+ "retry_after => ?::float8 * interval '1 second')";

	/**
	 * While a batch is held, extends its leases every lease / 3 seconds, on a
	 * connection and a thread of its own.
	 */
	static final class Heartbeat implements AutoCloseable {
		private final Connection conn;
		private final PreparedStatement extend;
		private final double leaseS;
		private final CountDownLatch done = new CountDownLatch(1);
		private final Thread thread;
		/** guarded by this: a beat in progress holds the monitor */
		private List<Claimed> held = List.of();

		Heartbeat(Target target, double leaseS) throws SQLException {
			this.conn = target.connect();
			this.extend = conn.prepareStatement(
					"SELECT fqs_extend_lease(?::bigint, ?::bigint, ?::float8 * interval '1 second')");
			this.leaseS = leaseS;
			this.thread = new Thread(this::beatUntilClosed, "fqs-heartbeat");
			thread.setDaemon(true);
			thread.start();
		}

		synchronized void hold(List<Claimed> batch) {
			held = List.copyOf(batch);
		}

		synchronized void drop(long id) {
			held = held.stream().filter(c -> c.id() != id).toList();
		}

		/** Once this returns, no extension of the batch is on its way. */
		synchronized void release() {
			held = List.of();
		}

		private void beatUntilClosed() {
			long periodMs = Math.max(1, (long) (leaseS / 3.0 * 1000));
			try {
				while (!done.await(periodMs, TimeUnit.MILLISECONDS)) {
					beat();
				}
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
		}

		private synchronized void beat() {
			for (Claimed c : held) {
				try {
					extend.setLong(1, c.id());
					extend.setLong(2, c.receipt());
					extend.setDouble(3, leaseS);
					extend.execute();
				} catch (SQLException e) {
					// the lease was lost (it expired and the message was
					// claimed again): its commit will be refused
					System.err.println("heartbeat: " + e.getSQLState() + " " + e.getMessage());
				}
			}
		}

		@Override
		public void close() throws SQLException {
			done.countDown();
			try {
				thread.join();
			} catch (InterruptedException e) {
				Thread.currentThread().interrupt();
			}
			conn.close();
		}
	}

	/** Translate, many in parallel: claim, translate, one fqs_commit per batch. */
	static final class ConcurrentStage implements AutoCloseable {
		private final Options opts;
		private final Connection conn;
		private final Heartbeat beat;
		private final PreparedStatement claim;
		private final PreparedStatement commitMany;
		private final PreparedStatement commitOne;
		private final PreparedStatement failStmt;

		ConcurrentStage(Options opts) throws SQLException {
			this.opts = opts;
			this.conn = opts.target().connect();
			this.beat = new Heartbeat(opts.target(), opts.lease());
			this.claim = conn.prepareStatement(
					"SELECT id, receipt, payload, attempt FROM fqs_claim(?, ?::int, "
							+ "lease => ?::float8 * interval '1 second', "
							+ "wait => ?::float8 * interval '1 second')");
			claim.setString(1, opts.queue());
			claim.setInt(2, opts.batch());
			claim.setDouble(3, opts.lease());
			claim.setDouble(4, opts.waitS());
			this.commitMany = conn.prepareStatement(
					"SELECT fqs_commit(?::bigint[], ?::bigint[], ?::text[])");
			this.commitOne = conn.prepareStatement(
					"SELECT fqs_commit(?::bigint, ?::bigint, ?::text)");
			this.failStmt = conn.prepareStatement(FAIL_SQL);
		}

		void run() throws SQLException, InterruptedException {
			while (!stop) {
				List<Claimed> batch = new ArrayList<>();
				try (ResultSet rs = claim.executeQuery()) {
					while (rs.next()) {
						batch.add(new Claimed(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getInt(4)));
					}
				}
				List<Long> ids = new ArrayList<>();
				List<Long> receipts = new ArrayList<>();
				List<String> results = new ArrayList<>();
				beat.hold(batch);
				try {
					for (Claimed m : batch) {
						try {
							results.add(translate(m.payload(), m.attempt(), opts.slow()));
							ids.add(m.id());
							receipts.add(m.receipt());
						} catch (TranslationFailed e) {
							beat.drop(m.id());
							fail(failStmt, m.id(), m.receipt(), e.getMessage(), opts.retryAfter());
						}
					}
				} finally {
					// before the commit: no heartbeat for finished messages
					beat.release();
				}
				if (!ids.isEmpty()) {
					commit(ids, receipts, results);
				}
			}
		}

		/** One call, one commit for the batch; one by one if that is refused. */
		private void commit(List<Long> ids, List<Long> receipts, List<String> results)
				throws SQLException {
			try {
				commitMany.setArray(1, conn.createArrayOf("bigint", ids.toArray(Long[]::new)));
				commitMany.setArray(2, conn.createArrayOf("bigint", receipts.toArray(Long[]::new)));
				commitMany.setArray(3, conn.createArrayOf("text", results.toArray(String[]::new)));
				commitMany.execute();
				return;
			} catch (SQLException e) {
				if (!LEASE_LOST.equals(e.getSQLState())) {
					throw e;
				}
			}
			// a lease of the batch was lost (55000): the others still count
			for (int i = 0; i < ids.size(); i++) {
				try {
					commitOne.setLong(1, ids.get(i));
					commitOne.setLong(2, receipts.get(i));
					commitOne.setString(3, results.get(i));
					commitOne.execute();
				} catch (SQLException e) {
					if (!LEASE_LOST.equals(e.getSQLState())) {
						throw e;
					}
					System.err.println("commit of " + ids.get(i) + " refused: " + e.getMessage());
				}
			}
		}

		@Override
		public void close() throws SQLException {
			try {
				beat.close();
			} finally {
				conn.close(); // and its statements
			}
		}
	}

	/** Deliver, in order per key: each run inserted and completed in one transaction. */
	static final class SequentialStage implements AutoCloseable {
		private final Options opts;
		private final Connection conn;
		private final PreparedStatement claim;
		private final PreparedStatement insert;
		private final PreparedStatement complete;
		private final PreparedStatement failStmt;

		SequentialStage(Options opts) throws SQLException {
			this.opts = opts;
			this.conn = opts.target().connect();
			// ordered by key, then seq: each key's run is consecutive rows
			this.claim = conn.prepareStatement(
					"SELECT id, receipt, fifo_key, seq, payload FROM fqs_claim_sequential(?, ?::int, "
							+ "lease => ?::float8 * interval '1 second', "
							+ "wait => ?::float8 * interval '1 second') "
							+ "ORDER BY fifo_key, seq");
			claim.setString(1, opts.queue());
			claim.setInt(2, opts.batch());
			claim.setDouble(3, opts.lease());
			claim.setDouble(4, opts.waitS());
			String sink = conn.unwrap(PGConnection.class).escapeIdentifier(opts.sink());
			this.insert = conn.prepareStatement(
					"INSERT INTO " + sink + " (fifo_key, seq, id, result) VALUES (?, ?, ?, ?)");
			this.complete = conn.prepareStatement("SELECT fqs_complete(?::bigint[], ?::bigint[])");
			this.failStmt = conn.prepareStatement(FAIL_SQL);
		}

		void run() throws SQLException {
			while (!stop) {
				Map<String, List<Processed>> runs = new LinkedHashMap<>();
				try (ResultSet rs = claim.executeQuery()) {
					while (rs.next()) {
						var m = new Processed(rs.getLong(1), rs.getLong(2), rs.getString(3),
								rs.getLong(4), rs.getString(5));
						runs.computeIfAbsent(m.fifoKey(), k -> new ArrayList<>()).add(m);
					}
				}
				for (List<Processed> run : runs.values()) {
					String error = deliver(run);
					if (error != null) {
						// nothing of the run was delivered: its head goes back
						Processed head = run.get(0);
						fail(failStmt, head.id(), head.receipt(), error, opts.retryAfter());
					}
				}
			}
		}

		/** Insert the run and complete it in one transaction; null, or why not. */
		private String deliver(List<Processed> run) throws SQLException {
			conn.setAutoCommit(false);
			try {
				for (Processed m : run) {
					insert.setString(1, m.fifoKey());
					insert.setLong(2, m.seq());
					insert.setLong(3, m.id());
					insert.setString(4, m.payload());
					insert.executeUpdate();
				}
				complete.setArray(1, conn.createArrayOf("bigint",
						run.stream().map(Processed::id).toArray(Long[]::new)));
				complete.setArray(2, conn.createArrayOf("bigint",
						run.stream().map(Processed::receipt).toArray(Long[]::new)));
				complete.execute();
				conn.commit();
				return null;
			} catch (SQLException e) {
				conn.rollback();
				return e.getMessage();
			} finally {
				conn.setAutoCommit(true);
			}
		}

		@Override
		public void close() throws SQLException {
			conn.close();
		}
	}
}
