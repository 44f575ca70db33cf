package io.diglett.common.cli;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandleProxies;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.InvocationTargetException;

/**
 * Handlers for POSIX signals such as SIGHUP, through {@code sun.misc.Signal} (module jdk.unsupported, the only
 * way Java 17 offers). It is reached by reflection: javac warns about every use of it in source ("internal
 * proprietary API"), a warning no {@code @SuppressWarnings} silences, and the build treats warnings as errors.
 */
public final class Signals {

    private Signals() {
    }

    /**
     * Runs {@code action} on the JVM's signal thread at every signal {@code name} ("HUP" for SIGHUP).
     *
     * @return false when the process started with the signal ignored (under nohup): the JVM keeps it ignored,
     *         and {@code action} never runs
     * @throws IllegalArgumentException when the signal cannot be handled here: unknown on this platform, used
     *         by the JVM itself, or no jdk.unsupported module in this runtime
     */
    public static boolean handle(String name, Runnable action) {
        try {
            Class<?> signalType = Class.forName("sun.misc.Signal");
            Class<?> handlerType = Class.forName("sun.misc.SignalHandler");
            MethodHandle run = MethodHandles.publicLookup()
                    .findVirtual(Runnable.class, "run", MethodType.methodType(void.class)).bindTo(action);
            Object handler = MethodHandleProxies.asInterfaceInstance(handlerType,
                    MethodHandles.dropArguments(run, 0, signalType));
            Object signal = signalType.getConstructor(String.class).newInstance(name);
            Object previous = signalType.getMethod("handle", signalType, handlerType).invoke(null, signal, handler);
            return previous != handlerType.getField("SIG_IGN").get(null);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof IllegalArgumentException refused) {
                throw refused;
            }
            throw new IllegalArgumentException("SIG" + name + ": " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new IllegalArgumentException("no sun.misc.Signal in this runtime: " + e, e);
        }
    }
}
