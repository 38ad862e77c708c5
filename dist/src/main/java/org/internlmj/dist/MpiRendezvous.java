package org.internlmj.dist;

import java.time.Duration;
import java.util.Map;

/** Joins the MPI world when {@code mpirun} or {@code srun} started the process (found by {@link Rendezvous}). */
public final class MpiRendezvous implements Rendezvous.Provider {

    @Override
    public String name() {
        return "mpi";
    }

    @Override
    public boolean detects(Map<String, String> env) {
        return env.containsKey("OMPI_COMM_WORLD_RANK") || env.containsKey("PMIX_RANK") || env.containsKey("PMI_RANK");
    }

    @Override
    public ProcessGroup join(Map<String, String> env, Duration timeout) {
        return MpiProcessGroup.world(MpiProcessGroup.Options.defaults().withTimeout(timeout));
    }
}
