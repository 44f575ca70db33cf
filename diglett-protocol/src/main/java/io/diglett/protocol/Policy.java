package io.diglett.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Who may reach a name (docs/policy.md): client address blocks allowed and denied, and a rate per client address.
 * The agent sends it in a Policy frame (version 6, id = the registration it is for, before that Register): UTF-8
 * lines {@code RULE VALUE}, one rule each, in any order:
 * <pre>
 * allow-cidr 10.0.0.0/8
 * deny-cidr 10.1.2.0/24
 * rate-limit 20
 * request-header X-Api-Key: s3cret
 * remove-request-header Cookie
 * basic-auth alice:pbkdf2-sha256:310000:SALT:HASH
 * response-header X-Frame-Options: DENY
 * jwt-jwks https://login.example.com/jwks.json
 * jwt-issuer https://login.example.com/
 * jwt-audience api
 * oidc-issuer https://accounts.example.com
 * oidc-client-id diglett
 * oidc-client-secret s3cret
 * oidc-allow @example.com
 * </pre>
 * A name has at most one way to log in: basic auth, a bearer token (JWT) or an OpenID Connect login.
 * A rule this version does not know is refused by name, so an agent never believes a gateway enforces what it
 * does not. The operator's own policy for a token narrows the agent's ({@link #narrowedBy}).
 *
 * @param allow     client blocks allowed; empty: every address, unless denied
 * @param deny      client blocks denied, whatever {@code allow} says
 * @param rateLimit new connections (raw) or requests (HTTP) per second per client address, burst the same; 0: none
 * @param setRequestHeaders    headers the gateway sets on every request it forwards (HTTP only), replacing the
 *                             client's of that name
 * @param removeRequestHeaders headers the gateway removes from every request it forwards (HTTP only), lower case
 * @param basicAuth            users one of whom a request must name with its password (HTTP only); empty: none
 * @param setResponseHeaders   headers the gateway sets on every response it returns (HTTP only), replacing the
 *                             backend's of that name
 * @param jwt                  the bearer tokens a request must carry (HTTP only); {@code null}: none
 * @param oidc                 the OpenID Connect login a visitor must pass (HTTPS only); {@code null}: none
 */
public record Policy(List<Cidr> allow, List<Cidr> deny, int rateLimit, List<Header> setRequestHeaders,
                     List<String> removeRequestHeaders, List<BasicCredential> basicAuth,
                     List<Header> setResponseHeaders, Jwt jwt, Oidc oidc) {

    /** No rule: everyone, at any rate. */
    public static final Policy NONE = new Policy(List.of(), List.of(), 0, List.of(), List.of(), List.of());
    /** Users of basic auth, at most. */
    public static final int MAX_USERS = 32;
    /** Header rules of each kind, at most. */
    public static final int MAX_HEADERS = 32;
    /**
     * Headers a rule may not name: the request's framing and routing, hop-by-hop ones, and those the gateway sets
     * itself (the client's address); {@code x-diglett-*} is kept for the identity the gateway vouches for.
     */
    static final java.util.Set<String> RESERVED = java.util.Set.of("host", "content-length", "transfer-encoding",
            "connection", "upgrade", "te", "trailer", "keep-alive", "proxy-connection", "forwarded",
            "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip");

    /** A header a rule sets: a token name (kept as written) and a value of visible ASCII and spaces. */
    public record Header(String name, String value) {
        public Header {
            headerName(name);
            if (value.length() > 1024 || !value.chars().allMatch(c -> c == '\t' || c >= 0x20 && c < 0x7f)) {
                throw new IllegalArgumentException("request-header " + name + ": the value must be at most 1024"
                        + " visible ASCII characters, spaces and tabs");
            }
            value = value.strip();
        }

        @Override
        public String toString() {
            return name + ": " + value;
        }
    }

    /** {@code name} as a header rule may name it: an HTTP token, not reserved; lower case. */
    static String headerName(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (name.isEmpty() || name.length() > 64
                || !name.chars().allMatch(c -> c < 0x7f && (Character.isLetterOrDigit(c) || "!#$%&'*+-.^_`|~".indexOf(c) >= 0))) {
            throw new IllegalArgumentException("'" + Printable.of(name) + "' is not a header name");
        }
        if (RESERVED.contains(lower) || lower.startsWith("x-diglett-")) {
            throw new IllegalArgumentException("header '" + name + "' is the gateway's to set; a policy may not name"
                    + " it");
        }
        return lower;
    }

    /** The address rules and rate alone. */
    public Policy(List<Cidr> allow, List<Cidr> deny, int rateLimit) {
        this(allow, deny, rateLimit, List.of(), List.of(), List.of());
    }

    /** Without response headers, bearer tokens or OpenID Connect. */
    public Policy(List<Cidr> allow, List<Cidr> deny, int rateLimit, List<Header> setRequestHeaders,
                  List<String> removeRequestHeaders, List<BasicCredential> basicAuth) {
        this(allow, deny, rateLimit, setRequestHeaders, removeRequestHeaders, basicAuth, List.of(), null, null);
    }

    /** Without basic auth. */
    public Policy(List<Cidr> allow, List<Cidr> deny, int rateLimit, List<Header> setRequestHeaders,
                  List<String> removeRequestHeaders) {
        this(allow, deny, rateLimit, setRequestHeaders, removeRequestHeaders, List.of());
    }
    /** The first version with Policy frames. */
    public static final int SINCE = 6;
    /** Blocks per list, at most. */
    public static final int MAX_BLOCKS = 64;
    /** Highest rate limit, per second. */
    public static final int MAX_RATE = 1_000_000;

    public Policy {
        allow = List.copyOf(allow);
        deny = List.copyOf(deny);
        if (allow.size() > MAX_BLOCKS || deny.size() > MAX_BLOCKS) {
            throw new IllegalArgumentException("at most " + MAX_BLOCKS + " allow-cidr and " + MAX_BLOCKS
                    + " deny-cidr rules");
        }
        if (rateLimit < 0 || rateLimit > MAX_RATE) {
            throw new IllegalArgumentException("rate-limit must be 1 to " + MAX_RATE + " per second");
        }
        setRequestHeaders = List.copyOf(setRequestHeaders);
        basicAuth = List.copyOf(basicAuth);
        if (basicAuth.size() > MAX_USERS) {
            throw new IllegalArgumentException("at most " + MAX_USERS + " basic-auth users");
        }
        removeRequestHeaders = removeRequestHeaders.stream().map(Policy::headerName).distinct().toList();
        setResponseHeaders = List.copyOf(setResponseHeaders);
        if (setRequestHeaders.size() > MAX_HEADERS || removeRequestHeaders.size() > MAX_HEADERS
                || setResponseHeaders.size() > MAX_HEADERS) {
            throw new IllegalArgumentException("at most " + MAX_HEADERS + " request-header, " + MAX_HEADERS
                    + " remove-request-header and " + MAX_HEADERS + " response-header rules");
        }
        int logins = (basicAuth.isEmpty() ? 0 : 1) + (jwt == null ? 0 : 1) + (oidc == null ? 0 : 1);
        if (logins > 1) {
            throw new IllegalArgumentException("a name has one way to log in: basic-auth, jwt-jwks or oidc-issuer,"
                    + " not " + logins + " of them");
        }
    }

    /**
     * Bearer tokens (JSON Web Tokens) a request must carry in {@code Authorization: Bearer}: signed by a key of the
     * JWK set at {@code jwks}, unexpired, and from {@code issuer} for {@code audience} when those are given.
     */
    public record Jwt(String jwks, String issuer, String audience) {
        public Jwt {
            jwks = providerUrl("jwt-jwks", jwks);
            if (issuer != null && (issuer.isEmpty() || issuer.length() > 512 || !visible(issuer))) {
                throw new IllegalArgumentException("jwt-issuer must be 1-512 visible ASCII characters");
            }
            if (audience != null && (audience.isEmpty() || audience.length() > 512 || !visible(audience))) {
                throw new IllegalArgumentException("jwt-audience must be 1-512 visible ASCII characters");
            }
        }
    }

    /**
     * An OpenID Connect login (authorization code with PKCE) at the provider {@code issuer}, as the client
     * {@code clientId} (with {@code clientSecret}; empty for a public client), for the accounts {@code allow} names:
     * an address ({@code alice@example.com}), a domain ({@code @example.com}) or {@code *} (any account the
     * provider vouches for).
     */
    public record Oidc(String issuer, String clientId, String clientSecret, List<String> allow) {
        /** Allowed accounts, at most. */
        public static final int MAX_ALLOW = 64;

        public Oidc {
            issuer = providerUrl("oidc-issuer", issuer);
            if (clientId == null || clientId.isEmpty() || clientId.length() > 256 || !visible(clientId)) {
                throw new IllegalArgumentException("oidc-client-id must be 1-256 visible ASCII characters");
            }
            clientSecret = clientSecret == null ? "" : clientSecret;
            if (clientSecret.length() > 512 || !clientSecret.isEmpty() && !visible(clientSecret)) {
                throw new IllegalArgumentException("oidc-client-secret must be at most 512 visible ASCII characters");
            }
            allow = allow.stream().map(Oidc::account).distinct().toList();
            if (allow.isEmpty() || allow.size() > MAX_ALLOW) {
                throw new IllegalArgumentException("oidc-issuer needs 1 to " + MAX_ALLOW + " oidc-allow rules (an"
                        + " address, @DOMAIN, or * for any account the provider vouches for)");
            }
        }

        /** Whether the account with the verified {@code email} ({@code null}: none) is allowed. */
        public boolean allows(String email) {
            if (allow.contains("*")) {
                return true;
            }
            if (email == null) {
                return false;
            }
            String address = email.toLowerCase(Locale.ROOT);
            int at = address.lastIndexOf('@');
            return allow.contains(address) || at > 0 && allow.contains(address.substring(at));
        }

        private static String account(String entry) {
            String value = entry.strip().toLowerCase(Locale.ROOT);
            int at = value.lastIndexOf('@');
            boolean ok = value.equals("*") || value.length() <= 254 && at >= 0 && at == value.indexOf('@')
                    && at < value.length() - 1 && visible(value);
            if (!ok) {
                throw new IllegalArgumentException("oidc-allow '" + Printable.of(entry) + "' is not an address, @DOMAIN"
                        + " or *");
            }
            return value;
        }

        @Override
        public String toString() { // never the secret
            return "Oidc[issuer=" + issuer + ", clientId=" + clientId + ", allow=" + allow + "]";
        }
    }

    private static boolean visible(String text) {
        return text.chars().allMatch(c -> c > 0x20 && c < 0x7f);
    }

    /**
     * {@code value} as the URL of an identity provider: https, or http to a loopback host (a provider on the
     * gateway's own machine); no user information or fragment. Never resolved here.
     */
    public static String providerUrl(String rule, String value) {
        java.net.URI uri;
        try {
            uri = new java.net.URI(value == null ? "" : value);
        } catch (java.net.URISyntaxException e) {
            throw new IllegalArgumentException(rule + " '" + Printable.of(value) + "' is not a URL");
        }
        String host = uri.getHost() == null ? "" : uri.getHost().toLowerCase(Locale.ROOT);
        boolean loopback = host.equals("localhost") || host.startsWith("127.") || host.equals("[::1]");
        boolean ok = value.length() <= 512 && uri.isAbsolute() && !host.isEmpty() && uri.getRawUserInfo() == null
                && uri.getRawFragment() == null && ("https".equalsIgnoreCase(uri.getScheme())
                        || "http".equalsIgnoreCase(uri.getScheme()) && loopback);
        if (!ok) {
            throw new IllegalArgumentException(rule + " '" + Printable.of(value) + "' must be an https URL (http only to"
                    + " a loopback host) of at most 512 characters, without user or fragment");
        }
        return value;
    }

    /** Whether a visitor must log in (basic auth, a bearer token or OpenID Connect). */
    public boolean asksLogin() {
        return !basicAuth.isEmpty() || jwt != null || oidc != null;
    }

    /** Whether it has no rule. */
    public boolean none() {
        return allow.isEmpty() && deny.isEmpty() && rateLimit == 0 && !rewritesHeaders();
    }

    /**
     * A basic-auth user and the salted slow hash of its password, never the password:
     * {@code pbkdf2-sha256:ITERATIONS:SALT:HASH} (PBKDF2 with HMAC-SHA256 from the JDK; salt and hash in base64).
     */
    public record BasicCredential(String user, int iterations, byte[] salt, byte[] hash) {

        /** What an agent uses: the OWASP figure for PBKDF2-HMAC-SHA256 (2021). */
        public static final int ITERATIONS = 310_000;

        public BasicCredential {
            if (user.isEmpty() || user.length() > 64 || user.indexOf(':') >= 0
                    || !user.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
                throw new IllegalArgumentException("basic-auth user '" + Printable.of(user) + "' must be 1-64"
                        + " visible ASCII characters without ':'");
            }
            // bounded above too: one name's users must not make every name's password checks slow
            if (iterations < 100_000 || iterations > 1_000_000 || salt.length < 16 || salt.length > 64
                    || hash.length != 32) {
                throw new IllegalArgumentException("basic-auth '" + Printable.of(user) + "': not a pbkdf2-sha256 hash"
                        + " of 100,000 to 1,000,000 iterations with a salt of 16 to 64 bytes");
            }
            salt = salt.clone();
            hash = hash.clone();
        }

        /** The credential of {@code user} with {@code password}, hashed with a new random salt (slow, on purpose). */
        public static BasicCredential hash(String user, String password) {
            byte[] salt = new byte[16];
            new java.security.SecureRandom().nextBytes(salt);
            return new BasicCredential(user, ITERATIONS, salt, derive(password, salt, ITERATIONS));
        }

        /** Whether {@code password} is this user's: the slow derivation, compared in constant time. */
        public boolean matches(String password) {
            return java.security.MessageDigest.isEqual(hash, derive(password, salt, iterations));
        }

        private static byte[] derive(String password, byte[] salt, int iterations) {
            javax.crypto.spec.PBEKeySpec spec = new javax.crypto.spec.PBEKeySpec(password.toCharArray(), salt,
                    iterations, 256);
            try {
                return javax.crypto.SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec)
                        .getEncoded();
            } catch (java.security.GeneralSecurityException e) {
                throw new IllegalStateException("the JDK has no PBKDF2WithHmacSHA256", e);
            } finally {
                spec.clearPassword();
            }
        }

        /** {@code USER:pbkdf2-sha256:ITERATIONS:SALT:HASH}. */
        static BasicCredential parse(String text) {
            String[] parts = text.split(":", -1);
            if (parts.length != 5 || !parts[1].equals("pbkdf2-sha256")) {
                throw new IllegalArgumentException("basic-auth must be USER:pbkdf2-sha256:ITERATIONS:SALT:HASH (the"
                        + " agent hashes the password it is given)");
            }
            try {
                java.util.Base64.Decoder base64 = java.util.Base64.getDecoder();
                return new BasicCredential(parts[0], Integer.parseInt(parts[2]), base64.decode(parts[3]),
                        base64.decode(parts[4]));
            } catch (IllegalArgumentException e) { // NumberFormatException and bad base64 included
                throw new IllegalArgumentException("basic-auth '" + Printable.of(parts[0]) + "': "
                        + Printable.of(e.getMessage()));
            }
        }

        @Override
        public String toString() {
            java.util.Base64.Encoder base64 = java.util.Base64.getEncoder();
            return user + ":pbkdf2-sha256:" + iterations + ":" + base64.encodeToString(salt) + ":"
                    + base64.encodeToString(hash);
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof BasicCredential c && c.user.equals(user) && c.iterations == iterations
                    && java.util.Arrays.equals(c.salt, salt) && java.util.Arrays.equals(c.hash, hash);
        }

        @Override
        public int hashCode() {
            return user.hashCode() * 31 + java.util.Arrays.hashCode(hash);
        }
    }

    /** Whether it has header rules or asks for a login: rules only the HTTP ingress can apply. */
    public boolean rewritesHeaders() {
        return !setRequestHeaders.isEmpty() || !removeRequestHeaders.isEmpty() || !setResponseHeaders.isEmpty()
                || asksLogin();
    }

    /** Whether {@code client} passes the address rules: not denied, and allowed (or no allow rule). */
    public boolean admits(InetAddress client) {
        for (Cidr block : deny) {
            if (block.contains(client)) {
                return false;
            }
        }
        if (allow.isEmpty()) {
            return true;
        }
        for (Cidr block : allow) {
            if (block.contains(client)) {
                return true;
            }
        }
        return false;
    }

    /**
     * This policy (the agent's) narrowed by {@code operator}'s: both deny lists; the operator's allow list when the
     * agent has none, else the agent's blocks that lie inside one of the operator's (an agent's block wider than an
     * operator's is cut to it); the lower rate. Never wider than either.
     *
     * @throws IllegalArgumentException when no address both allow remains
     */
    public Policy narrowedBy(Policy operator) {
        List<Cidr> allowed;
        if (operator.allow.isEmpty()) {
            allowed = allow;
        } else if (allow.isEmpty()) {
            allowed = operator.allow;
        } else {
            allowed = new ArrayList<>();
            for (Cidr mine : allow) {
                for (Cidr theirs : operator.allow) {
                    Cidr inner = mine.within(theirs) ? mine : theirs.within(mine) ? theirs : null;
                    if (inner != null && !allowed.contains(inner)) {
                        allowed.add(inner);
                    }
                }
            }
            if (allowed.isEmpty()) {
                // nothing both allow (an empty list would mean everyone): the registration is refused
                throw new IllegalArgumentException("allow-cidr " + allow + " lies outside what the operator allows for"
                        + " this token (" + operator.allow + ")");
            }
        }
        List<Cidr> denied = new ArrayList<>(operator.deny); // the operator's first: never pushed out
        for (Cidr block : deny) {
            if (!denied.contains(block)) {
                denied.add(block);
            }
        }
        int rate = rateLimit == 0 ? operator.rateLimit : operator.rateLimit == 0 ? rateLimit
                : Math.min(rateLimit, operator.rateLimit);
        // headers: the operator's set wins over the agent's of the same name; both remove lists apply
        List<Header> set = new ArrayList<>(operator.setRequestHeaders);
        for (Header mine : setRequestHeaders) {
            if (set.stream().noneMatch(h -> h.name().equalsIgnoreCase(mine.name()))) {
                set.add(mine);
            }
        }
        List<String> removed = new ArrayList<>(removeRequestHeaders);
        operator.removeRequestHeaders.stream().filter(h -> !removed.contains(h)).forEach(removed::add);
        List<Header> responseSet = new ArrayList<>(operator.setResponseHeaders);
        for (Header mine : setResponseHeaders) {
            if (responseSet.stream().noneMatch(h -> h.name().equalsIgnoreCase(mine.name()))) {
                responseSet.add(mine);
            }
        }
        if (allowed.size() > MAX_BLOCKS || denied.size() > MAX_BLOCKS || set.size() > MAX_HEADERS
                || removed.size() > MAX_HEADERS || responseSet.size() > MAX_HEADERS) {
            // refused, never cut: a cut deny list would let clients in, a cut allow list keep some out
            throw new IllegalArgumentException("with the operator's rules the policy has more than " + MAX_BLOCKS
                    + " blocks or " + MAX_HEADERS + " header rules of a kind");
        }
        // the login: the operator's when it asks for one (the operator decides who logs in), else the agent's; an
        // OpenID login at the operator's provider keeps only the agent's accounts the operator's list admits
        if (!operator.asksLogin()) {
            return new Policy(allowed, denied, rate, set, removed, basicAuth, responseSet, jwt, oidc);
        }
        Oidc theirs = operator.oidc;
        Oidc login = theirs;
        if (theirs != null && oidc != null && oidc.issuer.equals(theirs.issuer) && !oidc.allow.contains("*")) {
            List<String> both = oidc.allow.stream().filter(a -> theirs.allow.contains("*") || theirs.allow.contains(a)
                    || a.indexOf('@') > 0 && theirs.allows(a)).toList();
            if (both.isEmpty()) {
                throw new IllegalArgumentException("oidc-allow " + oidc.allow + " lies outside the accounts the"
                        + " operator allows for this token (" + theirs.allow + ")");
            }
            login = new Oidc(theirs.issuer, theirs.clientId, theirs.clientSecret, both);
        }
        return new Policy(allowed, denied, rate, set, removed, operator.basicAuth, responseSet, operator.jwt, login);
    }

    /** The rules as the frame carries them. */
    public String text() {
        StringBuilder text = new StringBuilder();
        allow.forEach(block -> text.append("allow-cidr ").append(block).append('\n'));
        deny.forEach(block -> text.append("deny-cidr ").append(block).append('\n'));
        if (rateLimit > 0) {
            text.append("rate-limit ").append(rateLimit).append('\n');
        }
        setRequestHeaders.forEach(h -> text.append("request-header ").append(h).append('\n'));
        removeRequestHeaders.forEach(h -> text.append("remove-request-header ").append(h).append('\n'));
        basicAuth.forEach(c -> text.append("basic-auth ").append(c).append('\n'));
        setResponseHeaders.forEach(h -> text.append("response-header ").append(h).append('\n'));
        if (jwt != null) {
            text.append("jwt-jwks ").append(jwt.jwks).append('\n');
            if (jwt.issuer != null) {
                text.append("jwt-issuer ").append(jwt.issuer).append('\n');
            }
            if (jwt.audience != null) {
                text.append("jwt-audience ").append(jwt.audience).append('\n');
            }
        }
        if (oidc != null) {
            text.append("oidc-issuer ").append(oidc.issuer).append('\n');
            text.append("oidc-client-id ").append(oidc.clientId).append('\n');
            if (!oidc.clientSecret.isEmpty()) {
                text.append("oidc-client-secret ").append(oidc.clientSecret).append('\n');
            }
            oidc.allow.forEach(a -> text.append("oidc-allow ").append(a).append('\n'));
        }
        return text.toString();
    }

    /** The rules for a log: as {@link #text}, without request header values, password hashes and the client secret. */
    public String shown() {
        StringBuilder shown = new StringBuilder();
        for (String line : text().split("\n")) {
            if (line.startsWith("oidc-client-secret ")) {
                shown.append("oidc-client-secret ...\n");
            } else if (line.startsWith("request-header ")) {
                shown.append(line, 0, line.indexOf(':') + 1).append(" ...\n"); // a value may be an API key
            } else if (line.startsWith("basic-auth ")) {
                shown.append(line, 0, line.indexOf(':')).append(":...\n");
            } else if (!line.isEmpty()) {
                shown.append(line).append('\n');
            }
        }
        return shown.toString();
    }

    /** The Policy frame for {@code registration}. */
    public Frame encode(ByteBufAllocator alloc, int registration) {
        byte[] bytes = text().getBytes(StandardCharsets.UTF_8);
        if (bytes.length == 0 || bytes.length > FrameKind.POLICY.maxPayload()) {
            throw new IllegalArgumentException("a policy of " + bytes.length + " bytes does not fit a Policy frame");
        }
        ByteBuf buf = alloc.buffer(bytes.length).writeBytes(bytes);
        return new Frame(FrameKind.POLICY, registration, buf);
    }

    /**
     * The policy in a Policy frame.
     *
     * @throws IllegalArgumentException naming the rule that is wrong or unknown (the gateway refuses that
     *                                  registration with it)
     */
    public static Policy decode(Frame frame) {
        ByteBuf payload = frame.checkedContent(FrameKind.POLICY);
        if (!ByteBufUtil.isText(payload, StandardCharsets.UTF_8)) {
            throw new IllegalArgumentException("the policy is not UTF-8 text");
        }
        return parse(payload.toString(StandardCharsets.UTF_8));
    }

    /** Parses the lines of a policy ({@link #text}). */
    public static Policy parse(String text) {
        List<Cidr> allow = new ArrayList<>();
        List<Cidr> deny = new ArrayList<>();
        List<Header> set = new ArrayList<>();
        List<String> remove = new ArrayList<>();
        List<BasicCredential> users = new ArrayList<>();
        List<Header> responseSet = new ArrayList<>();
        java.util.Map<String, String> single = new java.util.HashMap<>();
        List<String> accounts = new ArrayList<>();
        int rate = 0;
        for (String line : text.split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            int space = line.indexOf(' ');
            String rule = space < 0 ? line : line.substring(0, space);
            String value = space < 0 ? "" : line.substring(space + 1).trim();
            switch (rule.toLowerCase(Locale.ROOT)) {
                case "allow-cidr" -> allow.add(Cidr.parse(value));
                case "deny-cidr" -> deny.add(Cidr.parse(value));
                case "rate-limit" -> rate = rate(value);
                case "request-header" -> set.add(header(value));
                case "remove-request-header" -> remove.add(value);
                case "basic-auth" -> users.add(BasicCredential.parse(value));
                case "response-header" -> responseSet.add(header(value));
                case "oidc-allow" -> {
                    if (accounts.size() >= Oidc.MAX_ALLOW) {
                        throw new IllegalArgumentException("at most " + Oidc.MAX_ALLOW + " oidc-allow rules");
                    }
                    accounts.add(value);
                }
                case "jwt-jwks", "jwt-issuer", "jwt-audience", "oidc-issuer", "oidc-client-id", "oidc-client-secret" -> {
                    if (single.put(rule.toLowerCase(Locale.ROOT), value) != null) {
                        throw new IllegalArgumentException("more than one " + rule + " rule");
                    }
                }
                default -> throw new IllegalArgumentException("unknown policy rule '" + Printable.of(rule)
                        + "' (this gateway enforces allow-cidr, deny-cidr, rate-limit, request-header,"
                        + " remove-request-header, response-header, basic-auth, jwt-* and oidc-*): upgrade the"
                        + " gateway");
            }
        }
        Jwt jwt = null;
        if (single.containsKey("jwt-jwks")) {
            jwt = new Jwt(single.get("jwt-jwks"), single.get("jwt-issuer"), single.get("jwt-audience"));
        } else if (single.containsKey("jwt-issuer") || single.containsKey("jwt-audience")) {
            throw new IllegalArgumentException("jwt-issuer and jwt-audience need jwt-jwks");
        }
        Oidc oidc = null;
        if (single.containsKey("oidc-issuer")) {
            oidc = new Oidc(single.get("oidc-issuer"), single.get("oidc-client-id"), single.get("oidc-client-secret"),
                    accounts);
        } else if (single.containsKey("oidc-client-id") || single.containsKey("oidc-client-secret")
                || !accounts.isEmpty()) {
            throw new IllegalArgumentException("oidc-client-id, oidc-client-secret and oidc-allow need oidc-issuer");
        }
        return new Policy(allow, deny, rate, set, remove, users, responseSet, jwt, oidc);
    }

    /** {@code NAME: VALUE} (or {@code NAME:VALUE}). */
    public static Header header(String text) {
        int colon = text.indexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("request-header '" + Printable.of(text) + "' is not NAME: VALUE");
        }
        return new Header(text.substring(0, colon).strip(), text.substring(colon + 1));
    }

    /** {@code 20}, {@code 20/s}: requests or connections per second. */
    public static int rate(String value) {
        String number = value.endsWith("/s") ? value.substring(0, value.length() - 2) : value;
        try {
            int rate = Integer.parseInt(number.trim());
            if (rate >= 1 && rate <= MAX_RATE) {
                return rate;
            }
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException("rate-limit '" + Printable.of(value) + "' is not N/s with N from 1 to "
                + MAX_RATE);
    }
}
