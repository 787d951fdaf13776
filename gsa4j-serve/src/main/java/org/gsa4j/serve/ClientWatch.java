package org.gsa4j.serve;

import io.helidon.common.socket.HelidonSocket;
import io.helidon.common.socket.PlainSocket;
import io.helidon.http.HttpPrologue;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http1.Http1ConnectionListener;

import java.lang.reflect.Field;
import java.net.Socket;
import java.net.SocketException;

/**
 * Whether the client of a request whose response has not started yet is still connected. A
 * streaming response learns it at its next write; a non-streaming one writes nothing until the
 * generation ends, and Helidon has no call that tells a handler its client has gone. What Helidon
 * does have, and this class uses:
 * <ul>
 * <li>an HTTP/1 receive listener sees every request's prologue together with its connection
 *     ({@link ConnectionContext}), on the connection's thread, which then runs the handler: a
 *     thread-local hands the connection to the handler;</li>
 * <li>the connection's socket has an "idle" mode ({@link HelidonSocket#idle()}, made for its
 *     client's connection pool): a background read of one byte, after which
 *     {@link HelidonSocket#isConnected()} is false once the peer has closed. A byte that arrives
 *     (a pipelined request) is kept for the connection's next read, so nothing is lost.</li>
 * </ul>
 * The background read gives up after the socket's read timeout ({@code SO_TIMEOUT}; with none,
 * after a tenth of a second) and then reports "not connected" as well. Helidon does not give its
 * server sockets a read timeout, and has no public call to set one, so the watch sets it, to the
 * listener's configured read timeout (the window: {@link Server} makes it 10 minutes), on the
 * {@link Socket} inside Helidon's plain socket, found by reflection (where it is not found, say in
 * another Helidon version, requests are simply not watched; {@code LimitsTest} notices). A
 * disconnect is believed only within that window after the watch started; a request that outlives
 * it is no longer watched (its response then closes the connection, since the connection's idle
 * reader has failed), and a kept-alive connection that carried a watched request is closed after
 * that long without a request. Requests on another protocol or transport (NIO sockets ignore idle
 * mode) are never reported gone.
 */
final class ClientWatch implements Http1ConnectionListener {
    private static final ThreadLocal<ConnectionContext> CONNECTION = new ThreadLocal<>();

    /** A watch that never reports the client gone. */
    static final Watch NONE = new Watch(null, 0, 0);

    @Override
    public void prologue(ConnectionContext ctx, HttpPrologue prologue) {
        CONNECTION.set(ctx);
    }

    /**
     * Starts watching the connection of the request handled on this thread. Call it after the
     * request's body has been read, on the handler's thread.
     */
    static Watch start() {
        ConnectionContext ctx = CONNECTION.get();
        if (ctx == null) return NONE;
        HelidonSocket socket;
        try {
            socket = ctx.serverSocket();
        } catch (UnsupportedOperationException e) {
            return NONE;
        }
        long window = ctx.listenerContext().config().connectionOptions().readTimeout().toMillis();
        Socket plain = plainSocket(socket);
        if (window <= 0 || window > Integer.MAX_VALUE || plain == null) return NONE;
        try {
            plain.setSoTimeout((int) window);   // how long the idle read waits (it reads in slices of a tenth of a second)
        } catch (SocketException e) {
            return NONE;
        }
        socket.idle();
        return new Watch(socket, System.nanoTime(), window * 1_000_000);
    }

    /** The {@link Socket} inside Helidon's {@code PlainSocket}, or null. */
    private static Socket plainSocket(HelidonSocket socket) {
        if (!(socket instanceof PlainSocket)) return null;
        try {
            Field delegate = PlainSocket.class.getDeclaredField("delegate");
            delegate.setAccessible(true);
            return delegate.get(socket) instanceof Socket s ? s : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** One request's watch. */
    record Watch(HelidonSocket socket, long since, long windowNanos) {
        /** True once the client has closed its connection (within the window). */
        boolean clientGone() {
            if (socket == null || socket.isConnected()) return false;
            return !expired();   // checked after: a close seen within the window is the client's, not the idle read's time-out
        }

        /** Past the window: the watch can no longer tell, and the connection cannot be reused. */
        boolean expired() {
            return socket != null && System.nanoTime() - since >= windowNanos;
        }
    }
}
