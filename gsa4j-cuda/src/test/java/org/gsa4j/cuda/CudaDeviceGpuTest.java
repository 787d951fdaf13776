package org.gsa4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The device: properties, its thread, errors that name their cause. */
@Tag("gpu")
class CudaDeviceGpuTest {

    static CudaDevice device;

    @BeforeAll
    static void open() {
        assumeTrue(CudaDevice.available(), CudaDevice::unavailableReason);
        device = CudaDevice.open(0);
        System.out.println(device + ", arch " + device.archFlag() + ", driver " + device.driverVersion());
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    @Test
    void properties() {
        assertNull(CudaDevice.unavailableReason());
        assertTrue(CudaDevice.count() >= 1);
        assertFalse(device.name().isBlank());
        assertTrue(device.computeCapability().major() >= 7, device.computeCapability().toString());
        assertTrue(device.multiprocessorCount() > 0);
        long free = device.freeMemory();
        assertTrue(free > 0 && free <= device.totalMemory(), free + " of " + device.totalMemory());
        assertTrue(device.driverVersion() >= 12000, "driver " + device.driverVersion());
        assertTrue(device.archFlag().startsWith("sm_"));
        if (device.computeCapability().equals(new CudaDevice.Capability(9, 0))) {
            assertEquals("sm_90a", device.archFlag());
        }
        assertTrue(device.maxSharedMemoryPerBlockOptin() >= 48 * 1024, "opt-in " + device.maxSharedMemoryPerBlockOptin());
        assertEquals(32, device.attribute(Driver.CU_DEVICE_ATTRIBUTE_WARP_SIZE));
    }

    @Test
    void workRunsOnTheDeviceThreadAndExceptionsComeBack() {
        Thread t = device.call(Thread::currentThread);
        assertEquals("gsa4j-cuda-0", t.getName());
        assertSame(t, device.call(() -> device.call(Thread::currentThread)), "nested calls run in place");
        assertTrue(device.call(device::isDeviceThread));
        assertFalse(device.isDeviceThread());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.run(() -> {
            throw new IllegalStateException("from the GPU thread");
        }));
        assertEquals("from the GPU thread", e.getMessage());
        assertEquals(7, device.call(() -> 7), "the thread survives an exception");
    }

    @Test
    void usingAnObjectOffItsThreadIsAClearError() {
        DeviceBuffer b = device.allocate(1024);
        try {
            CudaException e = assertThrows(CudaException.class, () -> b.copyFrom(new float[4]));
            assertTrue(e.getMessage().contains("used on thread '" + Thread.currentThread().getName() + "'"), e.getMessage());
            assertTrue(e.getMessage().contains("gsa4j-cuda-0"), e.getMessage());
            assertThrows(CudaException.class, () -> device.stream().synchronize());
        } finally {
            b.close();
        }
    }

    @Test
    void aMissingOrdinalSaysHowManyThereAre() {
        CudaException e = assertThrows(CudaException.class, () -> CudaDevice.open(999));
        assertTrue(e.getMessage().startsWith("cuda:999 does not exist: this machine has " + CudaDevice.count()), e.getMessage());
    }

    @Test
    void closingFreesWhatIsOpenAndLaterUseFails() {
        CudaDevice second = CudaDevice.open(0);
        DeviceBuffer b = second.allocate(4096);
        CudaStream s = second.createStream();
        CudaEvent ev = second.createEvent();
        PinnedBuffer p = second.allocatePinned(4096);
        second.run(() -> b.copyFrom(new float[] {1, 2, 3}));
        second.close();
        second.close(); // idempotent
        CudaException e = assertThrows(CudaException.class, () -> second.call(() -> 1));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(CudaException.class, second::freeMemory);
        b.close(); // after the device: already freed, nothing to do and no error
        s.close();
        ev.close();
        p.close();
        // the primary context is reference-counted: this device still works
        assertEquals(4, device.call(() -> {
            try (DeviceBuffer mine = device.allocate(16)) {
                float[] x = {1, 2, 3, 4};
                mine.copyFrom(x);
                float[] y = new float[4];
                mine.copyTo(y);
                return (int) y[3];
            }
        }));
    }
}
