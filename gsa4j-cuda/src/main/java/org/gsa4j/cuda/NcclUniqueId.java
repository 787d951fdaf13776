package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * NCCL's {@code ncclUniqueId}: 128 opaque bytes that rank 0 creates ({@link NcclCommunicator#createUniqueId})
 * and every rank passes to {@link NcclCommunicator#create}, after they travelled from rank 0 to the others
 * (gsa4j's rendezvous sends them over TCP).
 */
public final class NcclUniqueId {

    /** {@code NCCL_UNIQUE_ID_BYTES}. */
    public static final int BYTES = 128;

    /** {@code typedef struct { char internal[128]; } ncclUniqueId;}: passed by value to {@code ncclCommInitRank}. */
    static final StructLayout LAYOUT = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(BYTES, JAVA_BYTE).withName("internal"))
            .withName("ncclUniqueId");

    private final byte[] bytes;

    /** The id as received from rank 0; exactly {@value #BYTES} bytes. */
    public NcclUniqueId(byte[] bytes) {
        if (bytes == null || bytes.length != BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + BYTES + " bytes, not " + (bytes == null ? "none" : bytes.length));
        }
        this.bytes = bytes.clone();
    }

    public byte[] bytes() {
        return bytes.clone();
    }

    /** The struct in native memory of {@code arena}, for a call. */
    MemorySegment toNative(Arena arena) {
        MemorySegment s = arena.allocate(LAYOUT);
        MemorySegment.copy(bytes, 0, s, JAVA_BYTE, 0, BYTES);
        return s;
    }

    /** The id NCCL wrote into {@code struct}. */
    static NcclUniqueId fromNative(MemorySegment struct) {
        return new NcclUniqueId(struct.asSlice(0, BYTES).toArray(JAVA_BYTE));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NcclUniqueId other && Arrays.equals(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    /** The first bytes in hex, enough to tell two ids apart in a log. */
    @Override
    public String toString() {
        return "NcclUniqueId[" + HexFormat.of().formatHex(bytes, 0, 8) + "...]";
    }
}
