package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A kernel's arguments as {@code cuLaunchKernel} takes them: a {@code void*} array whose entry i points at
 * argument i's value. Each kernel keeps one, in native memory of its own, and refills it for every launch,
 * so that launching makes no garbage: {@code kernel.params().add(x).add(n).add(alpha)} then
 * {@code kernel.launch(..., params)}.
 *
 * <p>Each argument takes an 8-byte slot; the pointers to the slots are written once.
 */
public final class KernelParams {

    private static final int SLOT = 8;

    private final Arena arena;
    private MemorySegment values;
    private MemorySegment pointers;
    private int[] sizes;
    private int count;

    KernelParams(Arena arena, int capacity) {
        this.arena = arena;
        allocate(capacity);
    }

    private void allocate(int capacity) {
        MemorySegment newValues = arena.allocate((long) capacity * SLOT, SLOT);
        MemorySegment newPointers = arena.allocate(ADDRESS, capacity);
        for (int i = 0; i < capacity; i++) {
            newPointers.setAtIndex(ADDRESS, i, newValues.asSlice((long) i * SLOT, SLOT));
        }
        if (values != null) {
            MemorySegment.copy(values, 0, newValues, 0, (long) count * SLOT);
        }
        int[] newSizes = new int[capacity];
        if (sizes != null) {
            System.arraycopy(sizes, 0, newSizes, 0, count);
        }
        values = newValues;
        pointers = newPointers;
        sizes = newSizes;
    }

    /** Empties the list, for the next launch. */
    public KernelParams clear() {
        count = 0;
        return this;
    }

    private long next(int size) {
        if (count == sizes.length) {
            allocate(2 * sizes.length);
        }
        sizes[count] = size;
        return (long) count++ * SLOT;
    }

    /** A pointer argument: the buffer's device address. */
    public KernelParams add(DeviceBuffer buffer) {
        return add(buffer.address());
    }

    public KernelParams add(long value) {
        long offset = next(8); // first: it may move the values
        values.set(JAVA_LONG, offset, value);
        return this;
    }

    public KernelParams add(int value) {
        long offset = next(4); // first: it may move the values
        values.set(JAVA_INT, offset, value);
        return this;
    }

    public KernelParams add(float value) {
        long offset = next(4); // first: it may move the values
        values.set(JAVA_FLOAT, offset, value);
        return this;
    }

    public KernelParams add(double value) {
        long offset = next(8); // first: it may move the values
        values.set(JAVA_DOUBLE, offset, value);
        return this;
    }

    /** A {@link DeviceBuffer} (its address), {@link Long}, {@link Integer}, {@link Float} or {@link Double}. */
    public KernelParams add(Object argument) {
        return switch (argument) {
            case DeviceBuffer b -> add(b);
            case Long v -> add(v.longValue());
            case Integer v -> add(v.intValue());
            case Float v -> add(v.floatValue());
            case Double v -> add(v.doubleValue());
            case null -> throw new IllegalArgumentException("kernel argument " + count + " is null");
            default -> throw new IllegalArgumentException("kernel argument " + count + " is a "
                    + argument.getClass().getSimpleName() + ": pass a DeviceBuffer, Long, Integer, Float or Double");
        };
    }

    public int count() {
        return count;
    }

    /** The size in bytes of argument {@code i} (4 or 8). */
    public int size(int i) {
        return sizes[i];
    }

    /** The {@code void**} array for {@code cuLaunchKernel}. */
    MemorySegment pointerArray() {
        return pointers;
    }

    /** Argument {@code i}'s value slot (what entry i of the pointer array points at). */
    MemorySegment slot(int i) {
        return values.asSlice((long) i * SLOT, SLOT);
    }

    /** The arguments' sizes, "[8, 8, 4]", for messages. */
    String describeSizes() {
        return java.util.Arrays.toString(java.util.Arrays.copyOf(sizes, count));
    }
}
