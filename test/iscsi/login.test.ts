/** Tests of the login conversation (RFC 7143 §6.3, §11.12, §11.13): tgtd captures, then a scripted target. */
import { describe, expect, it } from 'vitest';
import { Opcode, Stage } from '../../src/iscsi/constants.js';
import { LoginError, ProtocolError } from '../../src/iscsi/errors.js';
import { encodePdu, PduFramer } from '../../src/iscsi/framer.js';
import {
  LoginConversation,
  MAX_LOGIN_ROUND_TRIPS,
  MAX_LOGIN_TEXT_PARTS,
  type LoginConfig,
  type LoginResult,
} from '../../src/iscsi/login.js';
import { DEFAULT_DISCOVERY_WISHES, DEFAULT_WISHES } from '../../src/iscsi/negotiation.js';
import type { LoginRequest, LoginResponse, Pdu } from '../../src/iscsi/pdu.js';
import { parseSendTargetsText } from '../../src/iscsi/discovery.js';
import { encodeTextData, parseTextData, type TextPair } from '../../src/iscsi/text.js';
import { driveLogin, ScriptedTarget, viaWire } from '../support/chap-target.js';

/**
 * Wire bytes (BHS + data + padding) of logins between this LoginConversation and tgt 1.0.85 (Debian tgtd),
 * captured on 127.0.0.1 with `tgtd -f -C 7778 --iscsi portal=127.0.0.1:13270`, targets
 * iqn.2026-11.test:x (CHAP account alice/secretsecret12 bound, outgoing account tgtuser/tgtsecret1234) and
 * iqn.2026-11.test:open (no account). 'I' = initiator to target, 'T' = target to initiator. Config: see
 * CAPTURE_CONFIG; mutual CHAP ran with a random source of 0xa5 bytes. The 'T' PDUs are tgtd's own bytes;
 * the 'I' PDUs pin our requests to what tgtd accepted.
 */
const FIXTURES: Record<string, Array<['I' | 'T', string]>> = {
  normal: [
    [
      'I',
      '438700000000018f80123456789a00000000001000000000000000010000000000000000000000000000000000000000' +
        '496e69746961746f724e616d653d69716e2e323032362d31312e746573743a696e6974005461726765744e616d653d69' +
        '716e2e323032362d31312e746573743a6f70656e0053657373696f6e547970653d4e6f726d616c004865616465724469' +
        '676573743d4e6f6e6500446174614469676573743d4e6f6e650044656661756c7454696d6532576169743d3200446566' +
        '61756c7454696d653252657461696e3d300049464d61726b65723d4e6f004f464d61726b65723d4e6f004572726f7252' +
        '65636f766572794c6576656c3d3000496e697469616c5232543d4e6f00496d6d656469617465446174613d596573004d' +
        '617842757273744c656e6774683d313637373631393200466972737442757273744c656e6774683d323632313434004d' +
        '61784f75747374616e64696e675232543d31004d6178436f6e6e656374696f6e733d310044617461504455496e4f7264' +
        '65723d596573004461746153657175656e6365496e4f726465723d596573004d617852656376446174615365676d656e' +
        '744c656e6774683d3236323134340000',
    ],
    [
      'T',
      '238700000000012c80123456789a01000000001000000000000000000000000100000002000000000000000000000000' +
        '546172676574506f7274616c47726f75705461673d31004865616465724469676573743d4e6f6e650044617461446967' +
        '6573743d4e6f6e650044656661756c7454696d6532576169743d320044656661756c7454696d653252657461696e3d30' +
        '0049464d61726b65723d4e6f004f464d61726b65723d4e6f004572726f725265636f766572794c6576656c3d3000496e' +
        '697469616c5232543d59657300496d6d656469617465446174613d596573004d617842757273744c656e6774683d3236' +
        '3231343400466972737442757273744c656e6774683d3635353336004d61784f75747374616e64696e675232543d3100' +
        '4d6178436f6e6e656374696f6e733d310044617461504455496e4f726465723d596573004461746153657175656e6365' +
        '496e4f726465723d59657300',
    ],
  ],
  discovery: [
    [
      'I',
      '43870000000000d080123456789a00000000001000000000000000010000000000000000000000000000000000000000' +
        '496e69746961746f724e616d653d69716e2e323032362d31312e746573743a696e69740053657373696f6e547970653d' +
        '446973636f76657279004865616465724469676573743d4e6f6e6500446174614469676573743d4e6f6e650044656661' +
        '756c7454696d6532576169743d320044656661756c7454696d653252657461696e3d300049464d61726b65723d4e6f00' +
        '4f464d61726b65723d4e6f004572726f725265636f766572794c6576656c3d30004d617852656376446174615365676d' +
        '656e744c656e6774683d333237363800',
    ],
    [
      'T',
      '238700000000008e80123456789a01000000001000000000000000000000000100000002000000000000000000000000' +
        '546172676574506f7274616c47726f75705461673d31004865616465724469676573743d4e6f6e650044617461446967' +
        '6573743d4e6f6e650044656661756c7454696d6532576169743d320044656661756c7454696d653252657461696e3d30' +
        '0049464d61726b65723d4e6f004f464d61726b65723d4e6f004572726f725265636f766572794c6576656c3d30000000',
    ],
    [
      'I',
      '0480000000000010000000000000000000000011ffffffff000000010000000100000000000000000000000000000000' +
        '53656e64546172676574733d416c6c00',
    ],
    [
      'T',
      '248000000000007f000000000000000000000011ffffffff000000010000000200000002000000000000000000000000' +
        '5461726765744e616d653d69716e2e323032362d31312e746573743a7800546172676574416464726573733d3132372e' +
        '302e302e313a31333237302c31005461726765744e616d653d69716e2e323032362d31312e746573743a6f70656e0054' +
        '6172676574416464726573733d3132372e302e302e313a31333237302c310000',
    ],
  ],
  chap: [
    [
      'I',
      '438100000000006a80123456789a00000000001000000000000000010000000000000000000000000000000000000000' +
        '496e69746961746f724e616d653d69716e2e323032362d31312e746573743a696e6974005461726765744e616d653d69' +
        '716e2e323032362d31312e746573743a780053657373696f6e547970653d4e6f726d616c00417574684d6574686f643d' +
        '434841502c4e6f6e65000000',
    ],
    [
      'T',
      '230000000000002780123456789a00000000001000000000000000000000000100000002000000000000000000000000' +
        '546172676574506f7274616c47726f75705461673d3100417574684d6574686f643d434841500000',
    ],
    ['I', '430000000000000980123456789a00000000001000000000000000010000000100000000000000000000000000000000' + '434841505f413d3500000000'],
    [
      'T',
      '230000000000008080123456789a00000000001000000000000000010000000100000002000000000000000000000000' +
        '434841505f413d3500434841505f493d3100434841505f433d3078656263376337373131636565313932326463353639' +
        '303661363662633164353663346466383230366264316530633834343738303837386265663931656337363330376137' +
        '3030623763386335393866346232326566356465306431623131373030363600',
    ],
    [
      'I',
      '438100000000003780123456789a00000000001000000000000000010000000200000000000000000000000000000000' +
        '434841505f4e3d616c69636500434841505f523d30783762323863663531656664376638376661636630633031633438' +
        '3065383662620000',
    ],
    ['T', '238100000000000080123456789a00000000001000000000000000020000000100000002000000000000000000000000'],
    [
      'I',
      '438700000000013780123456789a00000000001000000000000000010000000300000000000000000000000000000000' +
        '4865616465724469676573743d4e6f6e6500446174614469676573743d4e6f6e650044656661756c7454696d65325761' +
        '69743d320044656661756c7454696d653252657461696e3d300049464d61726b65723d4e6f004f464d61726b65723d4e' +
        '6f004572726f725265636f766572794c6576656c3d3000496e697469616c5232543d4e6f00496d6d6564696174654461' +
        '74613d596573004d617842757273744c656e6774683d313637373631393200466972737442757273744c656e6774683d' +
        '323632313434004d61784f75747374616e64696e675232543d31004d6178436f6e6e656374696f6e733d310044617461' +
        '504455496e4f726465723d596573004461746153657175656e6365496e4f726465723d596573004d6178526563764461' +
        '74615365676d656e744c656e6774683d3236323134340000',
    ],
    [
      'T',
      '238700000000011580123456789a02000000001000000000000000030000000100000002000000000000000000000000' +
        '4865616465724469676573743d4e6f6e6500446174614469676573743d4e6f6e650044656661756c7454696d65325761' +
        '69743d320044656661756c7454696d653252657461696e3d300049464d61726b65723d4e6f004f464d61726b65723d4e' +
        '6f004572726f725265636f766572794c6576656c3d3000496e697469616c5232543d59657300496d6d65646961746544' +
        '6174613d596573004d617842757273744c656e6774683d32363231343400466972737442757273744c656e6774683d36' +
        '35353336004d61784f75747374616e64696e675232543d31004d6178436f6e6e656374696f6e733d3100446174615044' +
        '55496e4f726465723d596573004461746153657175656e6365496e4f726465723d59657300000000',
    ],
  ],
  mutual: [
    [
      'I',
      '438100000000006a80123456789a00000000001000000000000000010000000000000000000000000000000000000000' +
        '496e69746961746f724e616d653d69716e2e323032362d31312e746573743a696e6974005461726765744e616d653d69' +
        '716e2e323032362d31312e746573743a780053657373696f6e547970653d4e6f726d616c00417574684d6574686f643d' +
        '434841502c4e6f6e65000000',
    ],
    [
      'T',
      '230000000000002780123456789a00000000001000000000000000000000000100000002000000000000000000000000' +
        '546172676574506f7274616c47726f75705461673d3100417574684d6574686f643d434841500000',
    ],
    ['I', '430000000000000980123456789a00000000001000000000000000010000000100000000000000000000000000000000' + '434841505f413d3500000000'],
    [
      'T',
      '230000000000008080123456789a00000000001000000000000000010000000100000002000000000000000000000000' +
        '434841505f413d3500434841505f493d3200434841505f433d3078333364353534663331656137393764663730313564' +
        '323761333736373637323637613633316636323733306239666336316166663932353132613665666232386138356339' +
        '3735306266653332303965356665373231333339656331393230333437613800',
    ],
    [
      'I',
      '438100000000006c80123456789a00000000001000000000000000010000000200000000000000000000000000000000' +
        '434841505f4e3d616c69636500434841505f523d30783037363534643232653063306164666537613663633361326432' +
        '30326536316400434841505f493d31363500434841505f433d3078613561356135613561356135613561356135613561' +
        '356135613561356135613500',
    ],
    [
      'T',
      '238100000000003980123456789a00000000001000000000000000020000000100000002000000000000000000000000' +
        '434841505f4e3d7467747573657200434841505f523d3078643763373666386335303633333734643530353166633037' +
        '636265356337383800000000',
    ],
    [
      'I',
      '438700000000013780123456789a00000000001000000000000000010000000300000000000000000000000000000000' +
        '4865616465724469676573743d4e6f6e6500446174614469676573743d4e6f6e650044656661756c7454696d65325761' +
        '69743d320044656661756c7454696d653252657461696e3d300049464d61726b65723d4e6f004f464d61726b65723d4e' +
        '6f004572726f725265636f766572794c6576656c3d3000496e697469616c5232543d4e6f00496d6d6564696174654461' +
        '74613d596573004d617842757273744c656e6774683d313637373631393200466972737442757273744c656e6774683d' +
        '323632313434004d61784f75747374616e64696e675232543d31004d6178436f6e6e656374696f6e733d310044617461' +
        '504455496e4f726465723d596573004461746153657175656e6365496e4f726465723d596573004d6178526563764461' +
        '74615365676d656e744c656e6774683d3236323134340000',
    ],
    [
      'T',
      '238700000000011580123456789a03000000001000000000000000030000000100000002000000000000000000000000' +
        '4865616465724469676573743d4e6f6e6500446174614469676573743d4e6f6e650044656661756c7454696d65325761' +
        '69743d320044656661756c7454696d653252657461696e3d300049464d61726b65723d4e6f004f464d61726b65723d4e' +
        '6f004572726f725265636f766572794c6576656c3d3000496e697469616c5232543d59657300496d6d65646961746544' +
        '6174613d596573004d617842757273744c656e6774683d32363231343400466972737442757273744c656e6774683d36' +
        '35353336004d61784f75747374616e64696e675232543d31004d6178436f6e6e656374696f6e733d3100446174615044' +
        '55496e4f726465723d596573004461746153657175656e6365496e4f726465723d59657300000000',
    ],
  ],
  sha256: [
    [
      'I',
      '438100000000006a80123456789a00000000001000000000000000010000000000000000000000000000000000000000' +
        '496e69746961746f724e616d653d69716e2e323032362d31312e746573743a696e6974005461726765744e616d653d69' +
        '716e2e323032362d31312e746573743a780053657373696f6e547970653d4e6f726d616c00417574684d6574686f643d' +
        '434841502c4e6f6e65000000',
    ],
    [
      'T',
      '230000000000002780123456789a00000000001000000000000000000000000100000002000000000000000000000000' +
        '546172676574506f7274616c47726f75705461673d3100417574684d6574686f643d434841500000',
    ],
    ['I', '430000000000000b80123456789a00000000001000000000000000010000000100000000000000000000000000000000' + '434841505f413d372c350000'],
    [
      'T',
      '230000000000008080123456789a00000000001000000000000000010000000100000002000000000000000000000000' +
        '434841505f413d3700434841505f493d3300434841505f433d3078396432323638376661376434646163623435623562' +
        '373664353363636465656663326263626337623637313062323037343636626466313332653934623862356663636666' +
        '6530666362366565313932326134356130633562646439643862633865616200',
    ],
    [
      'I',
      '438100000000005780123456789a00000000001000000000000000010000000200000000000000000000000000000000' +
        '434841505f4e3d616c69636500434841505f523d30783066613931663764393034323236353833656166376162663361' +
        '35363264613461653034366661626132366139396230633034373134616636366433343135620000',
    ],
    ['T', '230000000000000000000000000000000000001000000000000000000000000000000000020000000000000000000000'],
  ],
  noauth: [
    [
      'I',
      '438700000000018c80123456789a00000000001000000000000000010000000000000000000000000000000000000000' +
        '496e69746961746f724e616d653d69716e2e323032362d31312e746573743a696e6974005461726765744e616d653d69' +
        '716e2e323032362d31312e746573743a780053657373696f6e547970653d4e6f726d616c004865616465724469676573' +
        '743d4e6f6e6500446174614469676573743d4e6f6e650044656661756c7454696d6532576169743d320044656661756c' +
        '7454696d653252657461696e3d300049464d61726b65723d4e6f004f464d61726b65723d4e6f004572726f725265636f' +
        '766572794c6576656c3d3000496e697469616c5232543d4e6f00496d6d656469617465446174613d596573004d617842' +
        '757273744c656e6774683d313637373631393200466972737442757273744c656e6774683d323632313434004d61784f' +
        '75747374616e64696e675232543d31004d6178436f6e6e656374696f6e733d310044617461504455496e4f726465723d' +
        '596573004461746153657175656e6365496e4f726465723d596573004d617852656376446174615365676d656e744c65' +
        '6e6774683d32363231343400',
    ],
    [
      'T',
      '230000000000001700000000000000000000001000000000000000000000000000000000020100000000000000000000' +
        '546172676574506f7274616c47726f75705461673d310000',
    ],
  ],
};

const CAPTURE_CONFIG: LoginConfig = {
  initiatorName: 'iqn.2026-11.test:init',
  targetName: 'iqn.2026-11.test:x',
  sessionType: 'Normal',
  isid: 0x80123456789a,
  tsih: 0,
  cid: 0,
  itt: 0x10,
  cmdSN: 1,
  expStatSN: 0,
  auth: { method: 'None' },
  wishes: DEFAULT_WISHES,
  random: (n) => Buffer.alloc(n, 0xa5),
};

const CHAP = { method: 'CHAP' as const, username: 'alice', password: 'secretsecret12', algorithms: ['MD5' as const] };

function decodeWire(hex: string): Pdu {
  let out: Pdu | undefined;
  new PduFramer({ maxRecvDataSegmentLength: 1 << 24 }).push(Buffer.from(hex, 'hex'), (p) => (out = p));
  return out!;
}

/** Replays a capture: our requests must match byte for byte; tgtd's responses drive the conversation. */
function replay(
  fixture: Array<['I' | 'T', string]>,
  config: LoginConfig,
): { result?: LoginResult; error?: unknown; rest: Array<['I' | 'T', string]> } {
  const conv = new LoginConversation(config);
  let next: LoginRequest | undefined = conv.start();
  for (let i = 0; i < fixture.length; i++) {
    const [dir, hex] = fixture[i];
    if (dir === 'I') {
      expect(encodePdu(next!).toString('hex'), `request #${i}`).toBe(hex);
      continue;
    }
    try {
      const step = conv.handle(decodeWire(hex) as LoginResponse);
      if ('done' in step) return { result: step.done, rest: fixture.slice(i + 1) };
      next = step.next;
    } catch (error) {
      return { error, rest: fixture.slice(i + 1) };
    }
  }
  throw new Error('capture ended before the login did');
}

describe('replaying logins captured against tgt 1.0.85', () => {
  it('no credentials, Normal session: one round trip', () => {
    const { result, rest } = replay(FIXTURES.normal, { ...CAPTURE_CONFIG, targetName: 'iqn.2026-11.test:open' });
    expect(rest).toEqual([]);
    expect(result).toMatchObject({
      tsih: 0x100,
      statSN: 0,
      expCmdSN: 1,
      maxCmdSN: 2,
      authMethod: 'None',
      targetPortalGroupTag: 1,
      warnings: [],
    });
    expect(result!.params).toMatchObject({
      initialR2T: true,
      immediateData: true,
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      maxXmitDataSegmentLength: 8192,
    });
  });

  it('Discovery session, then SendTargets=All', () => {
    const { result, rest } = replay(FIXTURES.discovery, {
      ...CAPTURE_CONFIG,
      targetName: undefined,
      sessionType: 'Discovery',
      wishes: DEFAULT_DISCOVERY_WISHES,
    });
    expect(result).toMatchObject({ tsih: 0x100, authMethod: 'None', targetPortalGroupTag: 1, warnings: [] });
    expect(result!.params.maxRecvDataSegmentLength).toBe(32768);
    const [[, textReq], [, textResp]] = rest;
    expect((decodeWire(textReq).data ?? Buffer.alloc(0)).equals(encodeTextData([['SendTargets', 'All']]))).toBe(true);
    const resp = decodeWire(textResp);
    expect(resp.opcode).toBe(Opcode.TEXT_RESPONSE);
    expect(parseSendTargetsText(resp.data!)).toEqual([
      { targetName: 'iqn.2026-11.test:x', portals: [{ host: '127.0.0.1', port: 13270, tpgt: 1 }] },
      { targetName: 'iqn.2026-11.test:open', portals: [{ host: '127.0.0.1', port: 13270, tpgt: 1 }] },
    ]);
  });

  it('no credentials for a target that requires CHAP: 2/1 with a hint', () => {
    const { error } = replay(FIXTURES.noauth, CAPTURE_CONFIG);
    expect(error).toBeInstanceOf(LoginError);
    expect((error as LoginError).kind).toBe('authentication');
    expect((error as LoginError).message).toMatch(/status class 2, detail 1\): no CHAP credentials are configured/);
  });

  it('one-way CHAP (MD5)', () => {
    const { result, rest } = replay(FIXTURES.chap, { ...CAPTURE_CONFIG, auth: CHAP });
    expect(rest).toEqual([]);
    expect(result).toMatchObject({ tsih: 0x200, statSN: 3, authMethod: 'CHAP', chapAlgorithm: 'MD5', warnings: [] });
  });

  it("mutual CHAP (MD5): tgtd's CHAP_N/CHAP_R verify", () => {
    const { result } = replay(FIXTURES.mutual, {
      ...CAPTURE_CONFIG,
      auth: { ...CHAP, usernameIn: 'tgtuser', passwordIn: 'tgtsecret1234' },
    });
    expect(result).toMatchObject({ tsih: 0x300, authMethod: 'CHAP', chapAlgorithm: 'MD5' });
  });

  it('mutual CHAP fails when the target secret we expect differs from the one tgtd uses', () => {
    const { error } = replay(FIXTURES.mutual, {
      ...CAPTURE_CONFIG,
      auth: { ...CHAP, usernameIn: 'tgtuser', passwordIn: 'another-secret' },
    });
    expect(error).toBeInstanceOf(LoginError);
    expect((error as LoginError).kind).toBe('authentication');
  });

  it('SHA256 first: tgt 1.0.85 picks CHAP_A=7, computes SHA-1 for it and fails the login (2/0)', () => {
    const { error } = replay(FIXTURES.sha256, { ...CAPTURE_CONFIG, auth: { ...CHAP, algorithms: ['SHA256', 'MD5'] } });
    expect(error).toBeInstanceOf(LoginError);
    expect([(error as LoginError).statusClass, (error as LoginError).statusDetail, (error as LoginError).kind]).toEqual([
      2,
      0,
      'initiator',
    ]);
  });

  it('first request without credentials: CSG 1, NSG 3, T, declarations then the offer (open-iscsi)', () => {
    const req = decodeWire(FIXTURES.normal[0][1]) as LoginRequest;
    expect([req.transit, req.cont, req.csg, req.nsg]).toEqual([true, false, 1, 3]);
    const keys = parseTextData(req.data!).map(([k]) => k);
    expect(keys.slice(0, 5)).toEqual(['InitiatorName', 'TargetName', 'SessionType', 'HeaderDigest', 'DataDigest']);
    expect(keys).not.toContain('AuthMethod'); // §12.1: a security-stage key
  });

  it('first request with CHAP: I bit, CSG 0, NSG 1, T, our declarations in open-iscsi order', () => {
    const req = decodeWire(FIXTURES.chap[0][1]) as LoginRequest;
    expect(Buffer.from(FIXTURES.chap[0][1], 'hex')[0]).toBe(0x43);
    expect([req.transit, req.cont, req.csg, req.nsg, req.versionMax, req.versionMin, req.tsih]).toEqual([true, false, 0, 1, 0, 0, 0]);
    expect(parseTextData(req.data!)).toEqual([
      ['InitiatorName', 'iqn.2026-11.test:init'],
      ['TargetName', 'iqn.2026-11.test:x'],
      ['SessionType', 'Normal'],
      ['AuthMethod', 'CHAP,None'],
    ]);
  });
});

function config(extra: Partial<LoginConfig> = {}): LoginConfig {
  return { ...CAPTURE_CONFIG, random: undefined, ...extra };
}

/** A Login Response to `req` with the given fields. */
function answer(req: LoginRequest, fields: Partial<LoginResponse> = {}, pairs?: TextPair[]): LoginResponse {
  return {
    opcode: Opcode.LOGIN_RESPONSE,
    transit: req.transit,
    cont: false,
    csg: req.csg,
    nsg: req.nsg,
    versionMax: 0,
    versionActive: 0,
    isid: req.isid,
    tsih: 0,
    itt: req.itt,
    statSN: 10,
    expCmdSN: req.cmdSN,
    maxCmdSN: req.cmdSN + 1,
    statusClass: 0,
    statusDetail: 0,
    data: pairs ? encodeTextData(pairs) : undefined,
    ...fields,
  };
}

describe('stages and PDU fields', () => {
  it('runs CHAP -> operational -> full feature with constant CmdSN/ITT and tracked ExpStatSN', () => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: 'secretsecret12', statSN: 0xfffffffe, tsih: 77 });
    const result = driveLogin(new LoginConversation(config({ auth: CHAP, cmdSN: 0xffffffff })), target);
    // the scripted target also checks CmdSN/ITT/ISID constancy and ExpStatSN = StatSN + 1 at each request
    expect(target.log.map(({ req }) => [req.csg, req.nsg, req.transit, req.cmdSN, req.expStatSN])).toEqual([
      [0, 1, true, 0xffffffff, 0],
      [0, 0, false, 0xffffffff, 0xffffffff],
      [0, 1, true, 0xffffffff, 0],
      [1, 3, true, 0xffffffff, 1],
    ]);
    expect([result.tsih, result.statSN, result.expCmdSN, result.maxCmdSN]).toEqual([77, 1, 0xffffffff, 0]);
  });

  it('skips the security stage without credentials', () => {
    const target = new ScriptedTarget({ tsih: 9 });
    const result = driveLogin(new LoginConversation(config()), target);
    expect(target.log.map(({ req }) => [req.csg, req.nsg, req.transit])).toEqual([[1, 3, true]]);
    expect([result.tsih, result.authMethod, result.targetPortalGroupTag]).toEqual([9, 'None', 1]);
  });

  it('sends no TargetName for Discovery and offers only discovery keys', () => {
    const target = new ScriptedTarget();
    driveLogin(
      new LoginConversation(config({ targetName: undefined, sessionType: 'Discovery', wishes: DEFAULT_DISCOVERY_WISHES })),
      target,
    );
    const keys = parseTextData(target.log[0].req.data!).map(([k]) => k);
    expect(keys.slice(0, 3)).toEqual(['InitiatorName', 'SessionType', 'HeaderDigest']);
    expect(keys).not.toContain('TargetName');
    expect(keys).not.toContain('MaxBurstLength');
  });

  it('sends InitiatorAlias after InitiatorName', () => {
    const conv = new LoginConversation(config({ initiatorAlias: 'host-a' }));
    expect(
      parseTextData(conv.start().data!)
        .map(([k]) => k)
        .slice(0, 4),
    ).toEqual(['InitiatorName', 'InitiatorAlias', 'TargetName', 'SessionType']);
  });

  it.each([
    [{ targetName: undefined }, /needs a TargetName/],
    [{ sessionType: 'Discovery' as const }, /sends no TargetName/],
    [{ initiatorName: '' }, /InitiatorName is required/],
  ])('refuses the config %j', (extra, message) => {
    expect(() => new LoginConversation(config(extra))).toThrow(message);
  });

  it('keeps the TSIH of an existing session and checks the final one against it', () => {
    const conv = new LoginConversation(config({ tsih: 5 }));
    const first = conv.start();
    expect(first.tsih).toBe(5);
    expect(() => conv.handle(answer(first, { tsih: 6 }))).toThrow(/TSIH 6 differs/);
    const ok = new LoginConversation(config({ tsih: 5 }));
    const done = ok.handle(answer(ok.start(), { tsih: 5 }));
    expect('done' in done && done.done.tsih).toBe(5);
  });

  it('starts once, and takes no response after it ended or failed', () => {
    const conv = new LoginConversation(config());
    expect(() => conv.handle(answer(conv.start(), { transit: false }))).not.toThrow();
    expect(() => conv.start()).toThrow(/already started/);
    const failed = new LoginConversation(config());
    const req = failed.start();
    expect(() => failed.handle(answer(req, { itt: 1 }))).toThrow(ProtocolError);
    expect(() => failed.handle(answer(req))).toThrow(/not running/);
    const done = new LoginConversation(config());
    const target = new ScriptedTarget();
    driveLogin(done, target);
    expect(() => done.handle(target.log[0].resp)).toThrow(/not running/);
  });
});

describe('responses that break §11.13 are ProtocolErrors', () => {
  const cases: Array<[string, Partial<LoginResponse>, RegExp]> = [
    ['another ITT', { itt: 99 }, /ITT 0x63 is not ours/],
    ['another ISID', { isid: 1 }, /another ISID/],
    ['Version-active 1', { versionActive: 1 }, /Version-active 1/],
    ['the wrong stage', { csg: 1 }, /stage 1, request was in stage 0/],
    ['a jump past the requested stage', { nsg: 3 }, /from stage 0 to 3, request asked for 1/],
    ['no stage change with T=1', { nsg: 0 }, /from stage 0 to 0/],
  ];
  it.each(cases)('%s', (_name, fields, message) => {
    // With CHAP configured the first request is in the security stage (CSG 0, NSG 1, T=1).
    const conv = new LoginConversation(config({ auth: CHAP }));
    const first = conv.start();
    expect(() => conv.handle(answer(first, fields, [['AuthMethod', 'CHAP']]))).toThrow(ProtocolError);
    const again = new LoginConversation(config({ auth: CHAP }));
    expect(() => again.handle(answer(again.start(), fields, [['AuthMethod', 'CHAP']]))).toThrow(message);
  });

  it('T=1 in answer to T=0', () => {
    const conv = new LoginConversation(config({ auth: CHAP }));
    const r1 = conv.handle(answer(conv.start(), { transit: false }, [['AuthMethod', 'CHAP']]));
    if (!('next' in r1)) throw new Error();
    expect(r1.next.transit).toBe(false);
    expect(() => conv.handle(answer(r1.next, { transit: true, nsg: 1 }))).toThrow(/T=1 to a request with T=0/);
  });

  it('a Login Final-Response without TSIH', () => {
    const conv = new LoginConversation(config());
    const first = conv.start();
    expect(first.csg).toBe(Stage.LOGIN_OPERATIONAL_NEGOTIATION);
    expect(() => conv.handle(answer(first, { tsih: 0 }))).toThrow(/without a TSIH/);
  });

  it('a key sent twice in one login (§6.1)', () => {
    const target = new ScriptedTarget({ finalExtra: [['TargetPortalGroupTag', '1']] });
    expect(() => driveLogin(new LoginConversation(config()), target)).toThrow(/TargetPortalGroupTag sent twice/);
  });

  it('security keys in the operational stage', () => {
    const target = new ScriptedTarget({ finalExtra: [['CHAP_A', '5']] });
    expect(() => driveLogin(new LoginConversation(config()), target)).toThrow(/CHAP_A outside the security stage/);
  });

  it(`a target that never ends the login (${MAX_LOGIN_ROUND_TRIPS} round trips)`, () => {
    const target = new ScriptedTarget({ misbehave: ['never-finish'] });
    expect(() => driveLogin(new LoginConversation(config()), target)).toThrow(/within 32 round trips/);
    expect(target.log).toHaveLength(MAX_LOGIN_ROUND_TRIPS + 1);
  });

  it('malformed text in a response', () => {
    const conv = new LoginConversation(config());
    expect(() => conv.handle(answer(conv.start(), { data: Buffer.from('HeaderDigest=None') }))).toThrow(/NUL/);
  });
});

describe('login status (§11.13.5)', () => {
  it.each([
    [2, 1, 'authentication'],
    [2, 2, 'authorization'],
    [2, 3, 'not-found'],
    [2, 7, 'initiator'],
    [3, 1, 'target'],
  ] as const)('status %d/%d is a LoginError of kind %s', (cls, detail, kind) => {
    const conv = new LoginConversation(config());
    try {
      conv.handle(answer(conv.start(), { statusClass: cls, statusDetail: detail, csg: 0, nsg: 0, transit: false }));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LoginError);
      expect([(err as LoginError).kind, (err as LoginError).statusClass, (err as LoginError).statusDetail]).toEqual([kind, cls, detail]);
    }
  });

  it.each([
    ['192.0.2.7:3261,2', { host: '192.0.2.7', port: 3261, tpgt: 2 }],
    ['[2001:db8::7]:3262,3', { host: '2001:db8::7', port: 3262, tpgt: 3 }],
    ['storage.example.com', { host: 'storage.example.com', port: 3260 }],
  ])('a redirect to %s carries the parsed TargetAddress', (address, parsed) => {
    const target = new ScriptedTarget({ misbehave: ['redirect'], redirectTo: address });
    try {
      driveLogin(new LoginConversation(config()), target);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(LoginError);
      expect((err as LoginError).kind).toBe('redirect');
      expect((err as LoginError).targetAddress).toEqual(parsed);
      expect((err as LoginError).message).toContain('target moved temporarily');
    }
  });

  it('a redirect without a usable TargetAddress (missing, malformed, not an address or DNS name) fails as a redirect, not followed', () => {
    const hostile = ['[::1', 'evil\u001b]0;pwned\u0007.example:3260', 'host\nnode.startup = automatic:3260', '../../etc:3260'];
    for (const data of [undefined, ...hostile.map((a) => encodeTextData([['TargetAddress', a]]))]) {
      const conv = new LoginConversation(config());
      const req = conv.start();
      try {
        conv.handle(answer(req, { statusClass: 1, statusDetail: 2, data }));
        expect.unreachable();
      } catch (err) {
        expect((err as LoginError).kind).toBe('redirect');
        expect((err as LoginError).targetAddress).toBeUndefined();
        expect((err as LoginError).message).toMatch(/no TargetAddress|unusable TargetAddress/);
        expect((err as LoginError).message).not.toMatch(/[\u0000-\u001f]/); // quoted, never raw
      }
    }
  });
});

describe('authentication method', () => {
  it('a target requiring CHAP refuses a login without credentials (2/1), with a hint', () => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: 'secretsecret12' });
    expect(() => driveLogin(new LoginConversation(config()), target)).toThrow(/authentication failure.*no CHAP credentials/);
  });

  it.each(['Reject', 'NotUnderstood', 'KRB5', 'CHAP,None'])('fails clearly on AuthMethod=%s', (value) => {
    const conv = new LoginConversation(config({ auth: CHAP }));
    expect(() => conv.handle(answer(conv.start(), { transit: false }, [['AuthMethod', value]]))).toThrow(
      /target (rejected|chose) AuthMethod/,
    );
  });

  it('takes a target that moves on without answering AuthMethod as None, refused unless allowNone', () => {
    const conv = new LoginConversation(config({ auth: CHAP }));
    expect(() => conv.handle(answer(conv.start(), {}, [['TargetPortalGroupTag', '3']]))).toThrow(/AuthMethod=None although CHAP/);
    const lax = new LoginConversation(config({ auth: { ...CHAP, allowNone: true } }));
    const step = lax.handle(answer(lax.start(), {}, [['TargetPortalGroupTag', '3']]));
    expect('next' in step && [step.next.csg, step.next.nsg]).toEqual([1, 3]);
  });

  it('asks again, with T=1, when the target answers T=0 without AuthMethod', () => {
    const conv = new LoginConversation(config({ auth: CHAP }));
    const step = conv.handle(answer(conv.start(), { transit: false }));
    expect('next' in step && [step.next.csg, step.next.transit, step.next.nsg, step.next.data]).toEqual([0, true, 1, undefined]);
  });

  it('rejects a CHAP key before AuthMethod is settled', () => {
    const conv = new LoginConversation(config({ auth: CHAP }));
    expect(() => conv.handle(answer(conv.start(), { transit: false }, [['CHAP_A', '5']]))).toThrow(ProtocolError);
  });
});

describe('C-bit continuation (§6.1, §11.12.2, §11.13)', () => {
  it.each([1, 7, 16, 64, 300, 8192])('joins target text sent in parts of %d bytes', (size) => {
    const target = new ScriptedTarget({
      auth: 'CHAP',
      username: 'alice',
      secret: 'secretsecret12',
      maxSegment: size,
      maxRecvDataSegmentLength: 65536,
    });
    const result = driveLogin(new LoginConversation(config({ auth: CHAP })), target);
    expect(result.params.maxXmitDataSegmentLength).toBe(65536);
    expect(result.chapAlgorithm).toBe('MD5');
    const continuations = target.log.filter(({ resp }) => resp.cont);
    if (size < 50) expect(continuations.length).toBeGreaterThan(0);
    // every continuation was fetched with an empty request repeating the stage and T of the one before
    target.log.forEach(({ req }, i) => {
      if (i === 0 || !target.log[i - 1].resp.cont) return;
      const prev = target.log[i - 1].req;
      expect([req.data, req.cont, req.csg, req.transit, req.nsg]).toEqual([undefined, false, prev.csg, prev.transit, prev.nsg]);
    });
  });

  it.each([1, 10, 64, 200])('sends our text in C=1 parts of %d bytes', (size) => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: 'secretsecret12' });
    const result = driveLogin(new LoginConversation(config({ auth: CHAP, maxSendDataSegmentLength: size })), target);
    expect(result.authMethod).toBe('CHAP');
    const parts = target.log.filter(({ req }) => req.cont);
    expect(parts.length).toBeGreaterThan(0);
    for (const { req, resp } of parts) {
      expect(req.transit).toBe(false);
      expect(req.data!.length).toBe(size);
      expect([resp.data, resp.transit, resp.cont]).toEqual([undefined, false, false]);
    }
  });

  it('refuses a non-empty answer to one of our C=1 parts', () => {
    const conv = new LoginConversation(config({ maxSendDataSegmentLength: 16 }));
    const first = conv.start();
    expect(first.cont).toBe(true);
    expect(() => conv.handle(answer(first, { transit: false }, [['AuthMethod', 'None']]))).toThrow(/more than an empty response/);
  });

  it('bounds the number of text parts a target may send', () => {
    const conv = new LoginConversation(config());
    const req = conv.start();
    expect(() => {
      for (let i = 0; i <= MAX_LOGIN_TEXT_PARTS; i++) conv.handle(answer(req, { transit: false, cont: true, data: Buffer.from('X') }));
    }).toThrow(/more than 1024 parts/);
  });
});

describe("the target's own proposals during login", () => {
  it('are answered in the next request and the login completes', () => {
    const target = new ScriptedTarget({
      proposals: [
        ['X-com.example.Turbo', 'Yes'],
        ['TaskReporting', 'FastAbort,RFC3720'],
      ],
    });
    const result = driveLogin(new LoginConversation(config()), target);
    const replies = parseTextData(target.log[1].req.data!);
    expect(replies).toEqual([
      ['X-com.example.Turbo', 'NotUnderstood'],
      ['TaskReporting', 'RFC3720'],
    ]);
    expect(target.log[1].req.transit).toBe(true);
    expect(result.warnings).toContain('target proposed unknown key X-com.example.Turbo; answered NotUnderstood');
  });

  it('fail the login when they arrive in the Final-Response and we disagree', () => {
    const target = new ScriptedTarget({ finalExtra: [['TaskReporting', 'FastAbort']] });
    expect(() => driveLogin(new LoginConversation(config()), target)).toThrow(LoginError);
  });

  it('fail on a bad answer to our offer, as a negotiation LoginError', () => {
    const target = new ScriptedTarget({ answerOverrides: { MaxBurstLength: '33554432' } });
    try {
      driveLogin(new LoginConversation(config()), target);
      expect.unreachable();
    } catch (err) {
      expect((err as LoginError).kind).toBe('negotiation');
    }
  });

  it('survive the codec round trip of every PDU (viaWire)', () => {
    const req = viaWire(new LoginConversation(config()).start());
    expect(req.opcode).toBe(Opcode.LOGIN_REQUEST);
  });
});
