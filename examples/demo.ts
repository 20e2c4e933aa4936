/**
 * The classic demo of the four patterns — Singleton, Factory, Observer, asynchronous tasks — on Keel.
 * Run with `npm run demo`.
 */
import assert from 'node:assert/strict';
import { setTimeout as wait } from 'node:timers/promises';
import { gather, type Observer, ShapeFactory, Singleton, Subject } from '../src/index.ts';

// Singleton: every `new` gives back the one instance.
const singleton1 = new Singleton();
const singleton2 = new Singleton();
assert.equal(singleton1, singleton2, 'Singleton instances are not the same.');

// Factory: shapes by name.
const shapeFactory = new ShapeFactory();
console.log(shapeFactory.createShape('circle').draw());
console.log(shapeFactory.createShape('rectangle').draw());
console.log(shapeFactory.createShape('triangle').draw());

// Observer: a subject notifies its observers.
class PrintingObserver implements Observer<string> {
  update(message: string): void {
    console.log(`Received message: ${message}`);
  }
}
const subject = new Subject<string>();
subject.attach(new PrintingObserver());
await subject.notify('Hello, world!');

// Asynchronous programming: ten one-second tasks run concurrently, so they take one second, not ten.
async function processData(data: string): Promise<string> {
  await wait(1000);
  return `Processed ${data}`;
}
const started = performance.now();
const results = await gather(Array.from({ length: 10 }, (_, i) => () => processData(`Data ${i}`)));
console.log(results);
console.log(`Elapsed: ${((performance.now() - started) / 1000).toFixed(2)} s`);
