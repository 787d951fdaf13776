/** JMH micro-benchmarks of the kernels: matmul, the GSA chunk operator, the recurrent step. */
package org.gsa4j.bench;
