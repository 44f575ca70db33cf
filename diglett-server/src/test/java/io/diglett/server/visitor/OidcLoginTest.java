package io.diglett.server.visitor;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** What the OpenID login builds its redirect URI and cookies' host from: the routed host, never the client's text. */
class OidcLoginTest {

    @Test
    void theAuthorityIsTheRoutedHostAndANumericPortOnly() {
        assertEquals("app.gw.test:8443", OidcLogin.authority("app.gw.test", "App.GW.test:8443"));
        assertEquals("app.gw.test", OidcLogin.authority("app.gw.test", "app.gw.test"));
        assertEquals("app.gw.test", OidcLogin.authority("app.gw.test", "app.gw.test:443@evil.example"),
                "userinfo smuggled into a Host header never reaches the redirect URI");
        assertEquals("app.gw.test", OidcLogin.authority("app.gw.test", "app.gw.test:99999999"));
    }
}
