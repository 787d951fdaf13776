package org.gsa4j.cli;

import org.gsa4j.Gsa4jException;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.ops.Precision;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code --device cpu|cuda[:N]} and {@code --precision f32|bf16}, shared by the commands that run on a GPU
 * (train, eval, generate, mqar). The CPU is the default and unchanged; {@code cuda} is GPU 0. Where no GPU
 * can be used (no driver, no device) the command ends before any work with one line saying why, exit
 * status 2.
 */
final class DeviceOption {
    private static final Pattern CUDA = Pattern.compile("cuda(?::(\\d{1,4}))?");

    @Spec(Spec.Target.MIXEE)
    CommandSpec spec;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "DEVICE",
            description = "Where to run: cpu, or cuda / cuda:N for GPU N (GSA models; the model is loaded from and saved as the CPU"
                    + " engine's checkpoint format) (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--precision", defaultValue = "f32", paramLabel = "P",
            description = "On the GPU: f32 (float32 throughout, the CPU engine's results to rounding) or bf16 (bfloat16 products"
                    + " and activations with float32 accumulation, master weights and optimizer moments) (default: ${DEFAULT-VALUE}).")
    String precision;

    /**
     * The GPU asked for, or -1 for the CPU; throws with one line when a value is malformed or the GPU
     * cannot be used here.
     */
    int gpu() {
        int ordinal = gpuOrdinalUnchecked();
        Precision p = precision();
        if (ordinal < 0) {
            if (p != Precision.F32) throw new Gsa4jException("--precision " + precision + " is for --device cuda; the CPU computes in float32");
            return -1;
        }
        String reason = CudaDevice.unavailableReason();
        if (reason != null) {
            throw new Gsa4jException("--device " + device + ": no CUDA GPU can be used on this machine ("
                    + reason.lines().findFirst().orElse(reason) + ")");
        }
        int count = CudaDevice.count();
        if (ordinal >= count) throw new Gsa4jException("--device " + device + ": this machine has " + count + " CUDA GPU(s)");
        return ordinal;
    }

    /** {@code --precision} as the GPU model takes it. */
    Precision precision() {
        return switch (precision.toLowerCase(Locale.ROOT)) {
            case "f32" -> Precision.F32;
            case "bf16" -> Precision.BF16;
            default -> throw new CommandLine.ParameterException(spec.commandLine(), "--precision must be f32 or bf16, found '" + precision + "'");
        };
    }

    /** How the command's output names where it ran, e.g. {@code cuda:0 (NVIDIA H200, f32)}. */
    String describe(CudaDevice gpu) {
        return "cuda:" + gpu.ordinal() + " (" + gpu.name() + ", " + precision().name().toLowerCase(Locale.ROOT) + ")";
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
