package org.gsa4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/** A loaded shared library and the downcall handles bound from it. Libraries stay loaded for the JVM's life. */
record NativeLibrary(String what, Path path, SymbolLookup symbols) {

    static final Linker LINKER = Linker.nativeLinker();

    static NativeLibrary load(String what, Path path) {
        try {
            return new NativeLibrary(what, path, SymbolLookup.libraryLookup(path, Arena.global()));
        } catch (IllegalArgumentException e) {
            throw new CudaException("could not load " + what + " from " + path + ": " + e.getMessage(), e);
        }
    }

    boolean has(String symbol) {
        return symbols.find(symbol).isPresent();
    }

    /** The C function {@code symbol}; a clear error when this build of the library lacks it. */
    MethodHandle function(String symbol, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(symbols.find(symbol).orElseThrow(() -> new CudaException(
                what + " at " + path + " has no function " + symbol + " (too old a version?)")), descriptor);
    }

    /** The C function {@code symbol}, or null where this version of the library lacks it. */
    MethodHandle optionalFunction(String symbol, FunctionDescriptor descriptor) {
        return symbols.find(symbol).map(s -> LINKER.downcallHandle(s, descriptor)).orElse(null);
    }
}
