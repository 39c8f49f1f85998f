import { describe, expect, it } from 'vitest';
import { buildOpenAPI } from './openapi.ts';

describe('buildOpenAPI', () => {
  const doc = buildOpenAPI() as any;

  it('contains the Pod schema generated from zod', () => {
    const pod = doc.components.schemas['io.k8s.api.core.v1.Pod'];
    expect(pod.type).toBe('object');
    expect(pod.additionalProperties).toBe(false);
    expect(pod.required).toEqual(expect.arrayContaining(['apiVersion', 'kind', 'metadata', 'spec']));
    const container = pod.properties.spec.properties.containers.items;
    expect(container.required).toEqual(expect.arrayContaining(['name', 'image']));
    expect(pod.properties.spec.properties.runtimeClassName.enum).toEqual(['wasm', 'container', 'microvm']);
    expect(doc.components.schemas['io.k8s.api.apps.v1.Deployment']).toBeDefined();
    for (const k of [
      'core.v1.Event',
      'apps.v1.DaemonSet',
      'batch.v1.CronJob',
      'policy.v1.PodDisruptionBudget',
    ])
      expect(doc.components.schemas[`io.k8s.api.${k}`]).toBeDefined();
    expect(pod.properties.spec.properties.affinity).toBeDefined();
    expect(doc.components.schemas['io.k8s.apimachinery.pkg.apis.meta.v1.Status']).toBeDefined();
  });

  it('lays out paths like Kubernetes', () => {
    expect(doc.openapi).toBe('3.1.0');
    const paths = Object.keys(doc.paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/namespaces/{namespace}/pods',
        '/api/v1/namespaces/{namespace}/pods/{name}',
        '/api/v1/namespaces/{namespace}/pods/{name}/status',
        '/api/v1/pods',
        '/api/v1/nodes/{name}/status',
        '/apis/apps/v1/namespaces/{namespace}/deployments/{name}',
        '/apis/batch/v1/namespaces/{namespace}/jobs',
        '/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}',
        '/api/v1/namespaces/{namespace}/events',
        '/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/status',
        '/apis/apps/v1/namespaces/{namespace}/controllerrevisions/{name}',
        '/apis/batch/v1/namespaces/{namespace}/cronjobs/{name}/status',
        '/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}/status',
        '/apis/scheduling.k8s.io/v1/priorityclasses/{name}',
      ]),
    );
    expect(paths).not.toContain('/api/v1/namespaces/{namespace}/configmaps/{name}/status');
    const item = doc.paths['/api/v1/namespaces/{namespace}/pods/{name}'];
    expect(Object.keys(item)).toEqual(expect.arrayContaining(['get', 'put', 'delete']));
    expect(item.get.operationId).toBe('readCoreV1NamespacedPod');
    expect(doc.paths['/api/v1/namespaces/{namespace}/pods'].get.parameters.map((p: any) => p.name)).toContain(
      'labelSelector',
    );
    expect(JSON.parse(JSON.stringify(doc))).toEqual(doc); // plain JSON, servable as is
  });
});
