package io.diglett.common.cli;

import java.security.GeneralSecurityException;
import java.text.SimpleDateFormat;
import java.util.Date;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;

/**
 * Start-up: initialises, on a daemon thread while the main thread parses the command line, two parts of the JDK
 * that the agent's main thread would otherwise wait for a little later: the date format slf4j-simple's first
 * logger builds (the locale data behind it), and the JDK's own TLS, which Netty's OpenSSL initialisation
 * checks before anything else ({@code SslUtils}: an {@code SSLContext} made and asked for its protocols, which
 * loads the JDK's TLS classes and security providers; about 0.1 s of a start). Only JDK classes run on the
 * thread, never Netty's or this program's: each is initialised once, whichever thread gets there first, and the
 * main thread waits for the other at most for what it needs. A failure here changes nothing: the real check
 * reports its own.
 */
public final class JdkWarmUp {

    /** The thread's name. */
    static final String THREAD = "diglett-jdk-warm-up";

    private JdkWarmUp() {
    }

    /** Starts the thread; returns it (tests join it). */
    public static Thread start() {
        Thread thread = new Thread(JdkWarmUp::run, THREAD);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    static void run() {
        // the pattern of the programs' simplelogger.properties
        new SimpleDateFormat("yyyy-MM-dd HH:mm:ss.SSS").format(new Date());
        try {
            // what Netty's SslUtils does first
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[0], null);
            context.getSupportedSSLParameters();
            context.getDefaultSSLParameters();
        } catch (GeneralSecurityException | RuntimeException e) {
            // nothing to warm: the real check meets the same and reports it
        }
    }
}
