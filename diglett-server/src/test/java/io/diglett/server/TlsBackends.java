package io.diglett.server;

import io.diglett.server.tls.GatewayTls;

import java.net.InetAddress;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLServerSocket;

/** TLS test backends: a server socket on 127.0.0.1, port 0, with a PEM certificate and key of the test's. */
final class TlsBackends {

    private TlsBackends() {
    }

    static SSLServerSocket server(Path certFile, Path keyFile) throws Exception {
        List<X509Certificate> chain = GatewayTls.readCertificates(certFile);
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        store.setKeyEntry("backend", GatewayTls.readPrivateKey(keyFile), new char[0],
                chain.toArray(new X509Certificate[0]));
        KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        keys.init(store, new char[0]);
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keys.getKeyManagers(), null, null);
        return (SSLServerSocket) context.getServerSocketFactory().createServerSocket(0, 64,
                InetAddress.getLoopbackAddress());
    }
}
