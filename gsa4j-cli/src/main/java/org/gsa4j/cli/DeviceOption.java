package org.gsa4j.cli;

import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code --device cpu|cuda[:N]}, shared by the commands that can run on a GPU. The CPU is the default and
 * unchanged; {@code cuda} is GPU 0. Where no GPU can be used (no driver, no device) the command ends before
 * any work with one line saying why, exit status 2.
 */
final class DeviceOption {
    private static final Pattern CUDA = Pattern.compile("cuda(?::(\\d{1,4}))?");

    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE",
            description = "Where to run: cpu, or cuda / cuda:N for GPU N (checked; the commands do not run on the GPU yet) (default: ${DEFAULT-VALUE}).")
    String device;

    /**
     * The GPU asked for, or -1 for the CPU; throws with one line when the value is malformed or the GPU
     * cannot be used here.
     */
    int gpu() {
        int ordinal = gpuOrdinalUnchecked();
        if (ordinal < 0) return -1;
        String reason = CudaDevice.unavailableReason();
        if (reason != null) {
            throw new Gsa4jException("--device " + device + ": no CUDA GPU can be used on this machine ("
                    + reason.lines().findFirst().orElse(reason) + ")");
        }
        int count = CudaDevice.count();
        if (ordinal >= count) throw new Gsa4jException("--device " + device + ": this machine has " + count + " CUDA GPU(s)");
        return ordinal;
    }

    /**
     * For a command whose GPU path is not built yet: returns on the CPU; with {@code cuda} it checks the GPU as
     * {@link #gpu()} does, then says in one line that the command does not run there yet.
     */
    void cpuUntilBuilt(String command) {
        if (gpu() >= 0) {
            throw new Gsa4jException("--device " + device + ": '" + command + "' does not run on the GPU yet (the GPU GSA model is"
                    + " a library API so far: org.gsa4j.cuda.models.CudaCausalLM); use --device cpu");
        }
    }

    private int gpuOrdinalUnchecked() {
        if (device.equals("cpu")) return -1;
        Matcher m = CUDA.matcher(device);
        if (!m.matches()) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--device must be cpu, cuda or cuda:N, found '" + device + "'");
        }
        return m.group(1) == null ? 0 : Integer.parseInt(m.group(1));
    }
}
