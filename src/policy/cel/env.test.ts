import { describe, expect, it } from 'vitest';
import { isCelError } from '@bufbuild/cel';
import { compile, CompileError, program, type Activation } from './env.ts';
import { celToJson, celToText, jsonToCel } from './values.ts';

function evaluate(source: string, vars: Record<string, unknown> = {}): unknown {
  const activation: Activation = {};
  for (const [k, v] of Object.entries(vars)) activation[k as keyof Activation] = jsonToCel(v);
  const out = program(compile(source, 'variable').parsed)(activation);
  if (isCelError(out)) throw new Error(out.message);
  return out;
}

function compileError(source: string, role: Parameters<typeof compile>[1] = 'validation'): CompileError {
  try {
    compile(source, role);
  } catch (e) {
    if (e instanceof CompileError) return e;
    throw e;
  }
  throw new Error(`${source} compiled`);
}

describe('Kubernetes CEL libraries', () => {
  it('lists: isSorted, sum, min, max, indexOf, lastIndexOf', () => {
    expect(evaluate('[1, 2, 3].isSorted() && !["b", "a"].isSorted()')).toBe(true);
    expect(evaluate('[1, 2, 3].sum()')).toBe(6n);
    expect(evaluate('[1.5, 2.0].sum()')).toBe(3.5);
    expect(evaluate('[].sum()')).toBe(0n);
    expect(evaluate('[3, 1, 2].min()')).toBe(1n);
    expect(evaluate('["a", "c", "b"].max()')).toBe('c');
    expect(evaluate('[1, 2, 1].indexOf(1)')).toBe(0n);
    expect(evaluate('[1, 2, 1].lastIndexOf(1)')).toBe(2n);
    expect(evaluate('[1, 2].indexOf(5)')).toBe(-1n);
    expect(() => evaluate('[].min()')).toThrow(/empty/);
  });

  it('regex: find and findAll', () => {
    expect(evaluate('"abc 123".find("[0-9]+")')).toBe('123');
    expect(evaluate('"abc".find("[0-9]+")')).toBe('');
    expect(celToJson(evaluate('"a1b22c333".findAll("[0-9]+")') as never)).toEqual(['1', '22', '333']);
    expect(celToJson(evaluate('"a1b22c333".findAll("[0-9]+", 2)') as never)).toEqual(['1', '22']);
  });

  it('quantity: parsing, comparison, arithmetic', () => {
    expect(evaluate('quantity("1Gi").isGreaterThan(quantity("1G"))')).toBe(true);
    expect(evaluate('quantity("500m").isLessThan(quantity("1"))')).toBe(true);
    expect(evaluate('quantity("1").compareTo(quantity("1000m"))')).toBe(0n);
    expect(evaluate('quantity("1") == quantity("1000m")')).toBe(true);
    expect(evaluate('quantity("2Ki").asInteger()')).toBe(2048n);
    expect(evaluate('quantity("1.5").isInteger()')).toBe(false);
    expect(evaluate('quantity("1.5").asApproximateFloat()')).toBe(1.5);
    expect(evaluate('quantity("1").add(quantity("500m")).sub(2).sign()')).toBe(-1n);
    expect(evaluate('isQuantity("10Mi") && !isQuantity("10 Mi")')).toBe(true);
    expect(celToText(evaluate('quantity("1").add(quantity("500m"))') as never)).toBe('1.5');
    expect(() => evaluate('quantity("1.5").asInteger()')).toThrow(/integer/);
    expect(() => evaluate('quantity("x")')).toThrow(/quantities/);
    expect(
      evaluate(
        'quantity(object.spec.containers[0].resources.limits.memory).isGreaterThan(quantity("64Mi"))',
        {
          object: { spec: { containers: [{ resources: { limits: { memory: '128Mi' } } }] } },
        },
      ),
    ).toBe(true);
  });

  it('url', () => {
    expect(evaluate('url("https://example.com:8443/a%20b?x=1&x=2").getScheme()')).toBe('https');
    expect(evaluate('url("https://example.com:8443/a").getHost()')).toBe('example.com:8443');
    expect(evaluate('url("https://example.com:8443/a").getHostname()')).toBe('example.com');
    expect(evaluate('url("https://example.com:8443/a").getPort()')).toBe('8443');
    expect(evaluate('url("https://[::1]:80/").getHostname()')).toBe('::1');
    expect(evaluate('url("/api/v1").getEscapedPath()')).toBe('/api/v1');
    expect(celToJson(evaluate('url("https://e.com/?x=1&x=2&y=a").getQuery()') as never)).toEqual({
      x: ['1', '2'],
      y: ['a'],
    });
    expect(evaluate('isURL("https://example.com") && !isURL("not a url")')).toBe(true);
  });

  it('ip and cidr', () => {
    expect(evaluate('ip("10.0.0.1").family()')).toBe(4n);
    expect(evaluate('ip("fe80::1").family()')).toBe(6n);
    expect(evaluate('ip("127.0.0.1").isLoopback() && ip("::1").isLoopback()')).toBe(true);
    expect(evaluate('ip("0.0.0.0").isUnspecified()')).toBe(true);
    expect(evaluate('ip("169.254.1.1").isLinkLocalUnicast() && ip("fe80::1").isLinkLocalUnicast()')).toBe(
      true,
    );
    expect(evaluate('ip("8.8.8.8").isGlobalUnicast() && !ip("127.0.0.1").isGlobalUnicast()')).toBe(true);
    expect(
      evaluate('isIP("1.2.3.4") && !isIP("1.2.3") && !isIP("::ffff:1.2.3.4") && !isIP("01.2.3.4")'),
    ).toBe(true);
    expect(evaluate('cidr("10.0.0.0/8").containsIP("10.1.2.3")')).toBe(true);
    expect(evaluate('cidr("10.0.0.0/8").containsIP(ip("11.0.0.1"))')).toBe(false);
    expect(evaluate('cidr("10.0.0.0/8").containsCIDR("10.1.0.0/16")')).toBe(true);
    expect(evaluate('cidr("10.1.0.0/16").containsCIDR("10.0.0.0/8")')).toBe(false);
    expect(evaluate('cidr("2001:db8::/32").containsIP("2001:db8::1")')).toBe(true);
    expect(evaluate('cidr("10.1.2.3/8").prefixLength()')).toBe(8n);
    expect(celToText(evaluate('cidr("10.1.2.3/8").masked()') as never)).toBe('10.0.0.0/8');
    expect(celToText(evaluate('cidr("2001:db8:0:0:1::/64").ip()') as never)).toBe('2001:db8:0:0:1::');
    expect(evaluate('cidr("10.0.0.0/8").ip() == ip("10.0.0.0")')).toBe(true);
    expect(evaluate('isCIDR("10.0.0.0/33")')).toBe(false);
  });

  it('strings extension and JSON integers as CEL ints', () => {
    expect(evaluate('"Hello".lowerAscii() + "-" + "a,b".split(",").join("+")')).toBe('hello-a+b');
    expect(evaluate('object.spec.replicas + 1', { object: { spec: { replicas: 2 } } })).toBe(3n);
    expect(evaluate('object.spec.ratio * 2.0', { object: { spec: { ratio: 0.5 } } })).toBe(1);
    expect(evaluate('has(object.spec.x) || !has(object.spec.y)', { object: { spec: { x: 1 } } })).toBe(true);
  });
});

describe('compile', () => {
  it('a syntax error names its line and column', () => {
    const e = compileError('object.spec.replicas >');
    expect(e.message).toMatch(/^Syntax error/);
    expect([e.line, e.column]).toEqual([1, 22]);
    // The parser reports where it stopped understanding; the checker, where the reference is.
    const undeclared = compileError('true &&\n  objct.x == 1');
    expect([undeclared.line, undeclared.column]).toEqual([2, 3]);
  });

  it('undeclared references and impossible overloads are refused', () => {
    expect(compileError('objct.spec.replicas > 1').message).toBe("undeclared reference to 'objct'");
    expect(compileError('size2(object) > 1').message).toBe("undeclared reference to 'size2'");
    expect(compileError('size(1) > 0').message).toMatch(
      /no matching overload for 'size' applied to '\(int\)'/,
    );
    expect(compileError("'a' + 1 == 'a1'").message).toMatch(/no matching overload for '_\+_'/);
    expect(compileError('authorizer.group("").resource("pods").check("create").allowed()').message).toBe(
      "undeclared reference to 'authorizer'",
    );
    const e = compileError('variables.missing == 1');
    expect(e.message).toMatch(/variables.missing/);
    expect(() => compile('variables.known == 1', 'validation', ['known'])).not.toThrow();
  });

  it('a validation must be bool; a messageExpression a string', () => {
    expect(compileError("'not a bool'").message).toBe('validation must evaluate to bool, got string');
    expect(compileError('1 + 2').message).toBe('validation must evaluate to bool, got int');
    expect(compileError('size(object.metadata.name)', 'messageExpression').message).toMatch(
      /string, got int/,
    );
    expect(compile('object.spec.replicas > 1', 'validation').type).toBe('bool');
    expect(compile("object.spec.containers.all(c, c.image.startsWith('ghcr.io/'))", 'validation').type).toBe(
      'bool',
    );
    expect(compile("'bad: ' + object.metadata.name", 'messageExpression').type).toBe('string');
    expect(compile('object.spec.replicas', 'validation').type).toBe('dyn');
  });
});
