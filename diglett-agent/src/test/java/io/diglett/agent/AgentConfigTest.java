package io.diglett.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class AgentConfigTest {

    @Test
    void theDefaultLinksAreOnePerTwoCoresAtLeastOneAtMostEight() {
        assertEquals(1, AgentConfig.defaultLinks(1));
        assertEquals(1, AgentConfig.defaultLinks(2), "two cores: a second link gains nothing there");
        assertEquals(1, AgentConfig.defaultLinks(3));
        assertEquals(2, AgentConfig.defaultLinks(4));
        assertEquals(8, AgentConfig.defaultLinks(16));
        assertEquals(AgentConfig.MAX_DEFAULT_LINKS, AgentConfig.defaultLinks(96));
    }
}
