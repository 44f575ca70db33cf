package io.diglett.server.tls;

import io.diglett.server.config.TlsSettings;

import io.diglett.common.AtomicFiles;
import io.diglett.common.transport.Fingerprint;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProtocols;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gateway's TLS identity: the operator's PEM certificate and key, or a key and self-signed certificate
 * generated on first start and kept in the state directory. Either way the SHA-256 fingerprint is logged at
 * every start, for agents to pin.
 */
public final class GatewayTls {

    private static final Logger log = LoggerFactory.getLogger(GatewayTls.class);

    public static final String CERT_FILE = "gateway.crt";
    public static final String KEY_FILE = "gateway.key";

    /** A context and the fingerprint of its certificate: swapped together, so no reader sees one without the other. */
    private record Identity(SslContext context, Fingerprint fingerprint) {
    }

    private volatile Identity identity;

    private GatewayTls(SslContext context, Fingerprint fingerprint) {
        this.identity = new Identity(context, fingerprint);
    }

    public SslContext context() {
        return identity.context();
    }

    public Fingerprint fingerprint() {
        return identity.fingerprint();
    }

    /**
     * Presents {@code chain} (leaf first) with {@code key} to agents from the next connection on: a certificate from
     * ACME for the gateway's host name ({@code --acme-link-name}), which agents verify through its CA.
     */
    public void use(PrivateKey key, List<X509Certificate> chain) throws IOException {
        Identity next = new Identity(linkContext(key, chain), Fingerprint.of(chain.get(0)));
        identity = next;
        log.info("TLS certificate of the agent link now {} (valid until {}), fingerprint {}",
                chain.get(0).getSubjectX500Principal().getName(), chain.get(0).getNotAfter().toInstant(),
                next.fingerprint());
    }

    private static SslContext linkContext(PrivateKey key, List<X509Certificate> chain) throws IOException {
        return SslContextBuilder.forServer(key, chain)
                .sslProvider(io.diglett.common.transport.Tls.provider())
                .protocols(SslProtocols.TLS_v1_3)
                .build();
    }

    /** Loads (or first creates) the identity described by {@code settings}. */
    public static GatewayTls load(TlsSettings settings) throws IOException, GeneralSecurityException {
        Path cert = settings.certFile();
        Path key = settings.keyFile();
        if (cert == null) {
            Path dir = settings.stateDir();
            cert = dir.resolve(CERT_FILE);
            key = dir.resolve(KEY_FILE);
            if (generateIfMissing(cert, key, "diglett gateway", localNames())) {
                log.warn("generated a new self-signed TLS certificate in {}: agents verify it by fingerprint", dir);
            }
        } else {
            warnIfOthersMayRead("--tls-key", key);
        }
        List<X509Certificate> chain = readCertificates(cert);
        SslContext context = linkContext(readPrivateKey(key), chain);
        Fingerprint fingerprint = Fingerprint.of(chain.get(0));
        log.info("TLS certificate {} ({}), fingerprint {}", cert, chain.get(0).getSubjectX500Principal().getName(),
                fingerprint);
        return new GatewayTls(context, fingerprint);
    }

    /** The certificate chain in a PEM file; at least one certificate, or an IOException naming the file. */
    public static List<X509Certificate> readCertificates(Path file) throws IOException, GeneralSecurityException {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        List<X509Certificate> certificates = new ArrayList<>();
        try (InputStream in = new ByteArrayInputStream(Files.readAllBytes(file))) {
            for (var certificate : factory.generateCertificates(in)) {
                certificates.add((X509Certificate) certificate);
            }
        }
        if (certificates.isEmpty()) {
            throw new IOException("no certificate in " + file);
        }
        return certificates;
    }

    private static List<String> localNames() {
        Set<String> names = new LinkedHashSet<>(List.of("localhost"));
        try {
            names.add(InetAddress.getLocalHost().getCanonicalHostName());
        } catch (IOException ignored) {
            // no host name: localhost alone
        }
        return List.copyOf(names);
    }

    /** Reads a PEM private key in any of the usual forms: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). */
    public static PrivateKey readPrivateKey(Path file) throws IOException {
        try (PEMParser parser = new PEMParser(Files.newBufferedReader(file, StandardCharsets.US_ASCII))) {
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            for (Object object = parser.readObject(); object != null; object = parser.readObject()) {
                if (object instanceof PEMKeyPair pair) {
                    return converter.getPrivateKey(pair.getPrivateKeyInfo());
                }
                if (object instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (object instanceof PKCS8EncryptedPrivateKeyInfo || object instanceof PEMEncryptedKeyPair) {
                    throw new IOException(file + ": encrypted private keys are not supported; decrypt it first"
                            + " (openssl pkey -in KEY -out KEY.plain)");
                }
            }
        }
        throw new IOException(file + ": no PEM private key found");
    }

    /**
     * Logs a warning when users other than the owner and its group may read the operator's private key
     * {@code key}, given with {@code option}. A group may (640, the usual {@code ssl-cert} setup).
     */
    public static void warnIfOthersMayRead(String option, Path key) {
        if (AtomicFiles.othersMayRead(key, false)) {
            log.warn("{} {} may be read by every user of this machine: chmod 600 {} (or 640 with a group of the"
                    + " gateway's user only)", option, key, key);
        }
    }

    /**
     * {@link #generate}s a key and certificate unless both files are there, under a lock on the key file, so
     * gateways starting at once with one state directory agree on one pair. Returns whether it generated.
     */
    public static boolean generateIfMissing(Path certFile, Path keyFile, String commonName, List<String> dnsNames)
            throws IOException, GeneralSecurityException {
        try {
            return AtomicFiles.locked(keyFile, () -> {
                if (Files.exists(certFile) && Files.exists(keyFile)) {
                    return false;
                }
                try {
                    generate(certFile, keyFile, commonName, dnsNames);
                } catch (GeneralSecurityException e) {
                    throw new IOException(e);
                }
                return true;
            });
        } catch (IOException e) {
            if (e.getCause() instanceof GeneralSecurityException security) {
                throw security;
            }
            throw e;
        }
    }

    /**
     * A P-256 key and a self-signed certificate for it ({@code commonName}, DNS names {@code dnsNames}), valid
     * ten years, each file written with owner-only access and replaced whole ({@link AtomicFiles#write}): the key
     * first, so a crash between leaves no certificate without its key.
     */
    public static void generate(Path certFile, Path keyFile, String commonName, List<String> dnsNames)
            throws IOException, GeneralSecurityException {
        Files.createDirectories(certFile.toAbsolutePath().getParent());
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"), new SecureRandom());
        KeyPair pair = generator.generateKeyPair();
        X500Name subject = new X500Name("CN=" + commonName);
        Instant now = Instant.now();
        X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject,
                new BigInteger(127, new SecureRandom()), Date.from(now.minus(Duration.ofDays(1))),
                Date.from(now.plus(Duration.ofDays(3650))), subject, pair.getPublic());
        try {
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            GeneralName[] sans = dnsNames.stream().map(n -> new GeneralName(GeneralName.dNSName, n))
                    .toArray(GeneralName[]::new);
            builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans));
            X509Certificate certificate = new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder("SHA256withECDSA").build(pair.getPrivate())));
            writeOwnerOnly(keyFile, "-----BEGIN PRIVATE KEY-----\n"
                    + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                            .encodeToString(pair.getPrivate().getEncoded())
                    + "\n-----END PRIVATE KEY-----\n");
            writeOwnerOnly(certFile, pem(certificate));
        } catch (org.bouncycastle.operator.OperatorCreationException e) {
            throw new GeneralSecurityException("cannot sign the gateway certificate", e);
        }
    }

    private static String pem(Object object) throws IOException {
        StringWriter text = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(text)) {
            writer.writeObject(object);
        }
        return text.toString();
    }

    private static void writeOwnerOnly(Path file, String content) throws IOException {
        AtomicFiles.write(file, content.getBytes(StandardCharsets.US_ASCII));
    }
}
