// [topic, filter, matches], shared by the matcher and trie tests; mostly the examples of MQTT 5.0 §4.7.
export const matchingCases: readonly (readonly [topic: string, filter: string, matches: boolean])[] = [
  // §4.7.1.2 multi-level wildcard
  ['sport/tennis/player1', 'sport/tennis/player1/#', true],
  ['sport/tennis/player1/ranking', 'sport/tennis/player1/#', true],
  ['sport/tennis/player1/score/wimbledon', 'sport/tennis/player1/#', true],
  ['sport', 'sport/#', true],
  ['sport/', 'sport/#', true],
  ['sports', 'sport/#', false],
  ['sport/tennis', '#', true],
  ['/', '#', true],
  ['a', 'a/b/#', false],
  // §4.7.1.3 single-level wildcard
  ['sport/tennis/player1', 'sport/tennis/+', true],
  ['sport/tennis/player2', 'sport/tennis/+', true],
  ['sport/tennis/player1/ranking', 'sport/tennis/+', false],
  ['sport', 'sport/+', false],
  ['sport/', 'sport/+', true],
  ['sport/tennis/player1', 'sport/+/player1', true],
  ['sport/tennis/player1/ranking', '+/tennis/#', true],
  ['/finance', '+/+', true],
  ['/finance', '/+', true],
  ['/finance', '+', false],
  ['finance', '+', true],
  ['a/b', '+/+/#', true],
  ['a', '+/#', true],
  // empty levels are levels
  ['a//b', 'a/+/b', true],
  ['a//b', 'a/b', false],
  ['a//b', 'a//b', true],
  ['/', '/', true],
  ['/', '+/+', true],
  ['/', '+', false],
  ['//', '/#', true],
  // §4.7.2 topics beginning with $ [MQTT-4.7.2-1]
  ['$SYS/monitor/Clients', '#', false],
  ['$SYS/monitor/Clients', '+/monitor/Clients', false],
  ['$SYS/monitor/Clients', '$SYS/#', true],
  ['$SYS/monitor/Clients', '$SYS/monitor/+', true],
  ['$SYS', '$SYS/#', true],
  ['$', '+', false],
  ['$', '#', false],
  ['$SYS/a', '+/#', false],
  ['a/$SYS', 'a/+', true], // only the first level is protected
  ['a/$SYS', 'a/#', true],
  ['/$SYS', '+/$SYS', true], // the topic starts with `/`, not `$`
  // §4.7.3 case-sensitive, no normalization [MQTT-4.7.3-4]
  ['ACCOUNTS', 'Accounts', false],
  ['Accounts payable', 'Accounts payable', true],
  ['a/b', 'a/b/', false],
  ['caf\u00e9', 'cafe\u0301', false],
]
