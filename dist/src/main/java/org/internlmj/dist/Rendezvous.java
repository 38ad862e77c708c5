package org.internlmj.dist;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * Joins the world a launcher started this process in. {@link #fromEnvironment()} asks each
 * {@link Provider} found with {@link ServiceLoader} first (the MPI group registers one that recognises
 * {@code mpirun}/{@code srun}), then reads the torchrun variables {@code RANK}, {@code WORLD_SIZE},
 * {@code LOCAL_RANK}, {@code MASTER_ADDR}, {@code MASTER_PORT} and connects a {@link TcpProcessGroup}
 * (rank 0 serves the {@link TcpStore}). {@code INTERNLMJ_DIST_TIMEOUT} ("90s", "10m", or seconds) sets
 * how long any collective may wait, {@link #DEFAULT_TIMEOUT} if unset.
 *
 * <pre>{@code
 * try (ProcessGroup world = Rendezvous.fromEnvironment()) {
 *     world.allReduce(grads, ReduceOp.AVG).await();
 * }
 * }</pre>
 */
public final class Rendezvous {
    /** Long enough for a rank that saves a checkpoint while the others wait at the next collective. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(10);
    /** The variable that sets the timeout. */
    public static final String TIMEOUT_VARIABLE = "INTERNLMJ_DIST_TIMEOUT";

    private Rendezvous() {
    }

    /**
     * Another way to be started, e.g. by {@code mpirun}: registered in
     * {@code META-INF/services/org.internlmj.dist.Rendezvous$Provider}.
     */
    public interface Provider {
        /** "mpi", for messages. */
        String name();

        /** True if {@code env} says this launcher started the process. */
        boolean detects(Map<String, String> env);

        /** The world group of this process. */
        ProcessGroup join(Map<String, String> env, Duration timeout);
    }

    /**
     * The torchrun variables, checked.
     *
     * @param localRank this process's index on its machine (device selection)
     */
    public record TorchrunEnv(int rank, int worldSize, int localRank, String masterAddr, int masterPort) {

        /** The variables a launcher sets, read from {@code env}; names the missing or malformed one. */
        public static TorchrunEnv parse(Map<String, String> env) {
            int worldSize = integer(env, "WORLD_SIZE", 1, Integer.MAX_VALUE);
            int rank = integer(env, "RANK", 0, worldSize - 1);
            int localRank = env.get("LOCAL_RANK") == null || env.get("LOCAL_RANK").isBlank() ? rank
                    : integer(env, "LOCAL_RANK", 0, worldSize - 1);
            String addr = env.get("MASTER_ADDR");
            if (addr == null || addr.isBlank()) {
                throw new IllegalArgumentException(missing("MASTER_ADDR", "the host name or address of rank 0"));
            }
            int port = integer(env, "MASTER_PORT", 1, 65535);
            return new TorchrunEnv(rank, worldSize, localRank, addr.trim(), port);
        }

        private static int integer(Map<String, String> env, String name, int min, int max) {
            String v = env.get(name);
            if (v == null || v.isBlank()) {
                throw new IllegalArgumentException(missing(name, switch (name) {
                    case "RANK" -> "this process's rank";
                    case "WORLD_SIZE" -> "the number of processes";
                    default -> "the port rank 0 serves the rendezvous store on";
                }));
            }
            int x;
            try {
                x = Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + "='" + v + "' is not an integer");
            }
            if (x < min || x > max) {
                throw new IllegalArgumentException(name + "=" + x + " is out of range: expected " + min + " to " + max
                        + ("RANK".equals(name) || "LOCAL_RANK".equals(name) ? " (WORLD_SIZE is " + (max + 1) + ")" : ""));
            }
            return x;
        }

        private static String missing(String name, String what) {
            return name + " is not set (" + what + "): start the processes with `internlmj launch --nproc N -- ...`, "
                    + "torchrun, or mpirun, or set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT";
        }
    }

    /** True if a launcher (torchrun-style variables, or a {@link Provider}'s, e.g. mpirun) started this process. */
    public static boolean launched(Map<String, String> env) {
        if (env.containsKey("WORLD_SIZE") && env.containsKey("RANK")) {
            return true;
        }
        for (Provider p : ServiceLoader.load(Provider.class)) {
            if (p.detects(env)) {
                return true;
            }
        }
        return false;
    }

    /** The world group of this process, from the environment the launcher set. */
    public static ProcessGroup fromEnvironment() {
        return fromEnvironment(System.getenv());
    }

    /** The world group described by {@code env} (a provider's launcher, else torchrun variables). */
    public static ProcessGroup fromEnvironment(Map<String, String> env) {
        Duration timeout = timeout(env);
        for (Provider p : ServiceLoader.load(Provider.class)) {
            if (p.detects(env)) {
                return p.join(env, timeout);
            }
        }
        TorchrunEnv t = TorchrunEnv.parse(env);
        TcpStore store = TcpStore.open(t.masterAddr(), t.masterPort(), t.rank() == 0, timeout);
        try {
            return TcpProcessGroup.connect(store, t.rank(), t.worldSize(), timeout, TcpProcessGroup.DEFAULT_PREFIX, true);
        } catch (RuntimeException e) {
            store.close();
            throw e;
        }
    }

    /** {@code INTERNLMJ_DIST_TIMEOUT} from {@code env}: "90s", "10m", "1h", an ISO duration, or seconds. */
    public static Duration timeout(Map<String, String> env) {
        String v = env.get(TIMEOUT_VARIABLE);
        if (v == null || v.isBlank()) {
            return DEFAULT_TIMEOUT;
        }
        String t = v.trim().toLowerCase(Locale.ROOT);
        Duration d;
        try {
            if (t.matches("\\d+")) {
                d = Duration.ofSeconds(Long.parseLong(t));
            } else if (t.matches("\\d+(ms|s|m|h)")) {
                long n = Long.parseLong(t.replaceAll("\\D", ""));
                d = t.endsWith("ms") ? Duration.ofMillis(n) : t.endsWith("s") ? Duration.ofSeconds(n)
                        : t.endsWith("m") ? Duration.ofMinutes(n) : Duration.ofHours(n);
            } else {
                d = Duration.parse(v.trim().toUpperCase(Locale.ROOT));
            }
        } catch (DateTimeParseException | NumberFormatException e) {
            throw new IllegalArgumentException(TIMEOUT_VARIABLE + "='" + v + "' is not a duration: write e.g. 90s, 10m or 600");
        }
        if (d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(TIMEOUT_VARIABLE + "='" + v + "' must be positive");
        }
        return d;
    }
}
